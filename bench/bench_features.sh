#!/bin/sh
# Feature throughput, SERC against torchaudio and librosa, on the same files in the same run:
# seconds of audio featurised per second, on one core and on all cores, and SERC's ratio to each.
#
#   bench/bench_features.sh [BENCH_BINARY] [FILES] [SECONDS]
#
# BENCH_BINARY defaults to build/bench_features. The files (FILES x SECONDS s, default 100 x 4 s of
# noise + tones at 16 kHz) are written once to a temporary folder and removed at the end. Decoding is
# excluded from every timed region (each side decodes all files into memory first). Python: the venv
# /opt/serc-fixtures-venv (torch + torchaudio from Debian, librosa) when it exists, else /usr/bin/python3
# (librosa then skipped if missing); the line "# python ..." names the one used.
set -eu
BIN=${1:-build/bench_features}
FILES=${2:-100}
SECS=${3:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -x /opt/serc-fixtures-venv/bin/python ]; then PY=/opt/serc-fixtures-venv/bin/python; else PY=/usr/bin/python3; fi
ALL=$(nproc)
DIR=$(mktemp -d /tmp/serc_bench_features.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
RES="$DIR/results.txt"
"$BIN" --make "$DIR" --files "$FILES" --seconds "$SECS"
THREADS=1
[ "$ALL" -le 1 ] || THREADS="1 $ALL"
for T in $THREADS; do
    SERC_THREADS=$T OMP_NUM_THREADS=$T "$BIN" --dir "$DIR" | tee -a "$RES"
    OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T MKL_NUM_THREADS=$T "$PY" "$HERE/bench_features.py" --dir "$DIR" \
        --threads "$T" | tee -a "$RES"
done
echo
echo "log-mel throughput in x real time, decoding excluded (all audio decoded into memory first)"
awk '
/^RESULT/ { lib = $2; p = $3; t = $4; x[lib, p, t] = $7; if (!(t in seen)) { seen[t] = 1; ts[++nt] = t } }
END {
    printf "| preset | threads | SERC (threads over frames) | SERC (threads over files) | reference | reference | SERC / reference |\n"
    printf "| --- | --- | --- | --- | --- | --- | --- |\n"
    split("kaldi torchaudio librosa", ps, " ")
    ref["kaldi"] = "torchaudio"; ref["torchaudio"] = "torchaudio"; ref["librosa"] = "librosa"
    name["kaldi"] = "torchaudio kaldi.fbank"; name["torchaudio"] = "torchaudio MelSpectrogram"; name["librosa"] = "librosa melspectrogram"
    for (i = 1; i <= 3; i++) for (j = 1; j <= nt; j++) {
        p = ps[i]; t = ts[j]; s = x["serc", p, t]; f = x["serc-files", p, t]; r = x[ref[p], p, t]
        if (s == "") continue
        b = (f != "" && f + 0 > s + 0) ? f : s
        fs = (f == "") ? "-" : sprintf("%.0f", f)
        if (r == "") { printf "| %s | %s | %.0f | %s | %s | - | - |\n", p, t, s, fs, name[p]; continue }
        printf "| %s | %s | %.0f | %s | %s | %.0f | %.2f |\n", p, t, s, fs, name[p], r, b / r
    }
    print ""
    print "x real time = seconds of audio per second of wall time; SERC / reference uses the faster SERC mode"
}' "$RES"
