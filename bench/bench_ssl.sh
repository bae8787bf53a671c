#!/bin/sh
# Frozen speech-encoder throughput, SERC (bench/bench_ssl.c) against transformers' WavLMModel on PyTorch
# CPU (bench/bench_ssl.py), random weights, WavLM-Base- and WavLM-Large-sized, one clip length, batch 1
# and 8, the same thread count, one after the other in one run. Prints utt/s, SERC / PyTorch and memory.
#
#   bench/bench_ssl.sh [THREADS]        (default 2)
#
# Environment: SIZES ("base large"), BATCHES ("1 8"), SECONDS (10), WARMUP (1), REPEAT (3),
#   BENCH_SSL (the binary; default build/bench_ssl), PYTHON (/opt/serc-hf-venv/bin/python: transformers),
#   OMP_WAIT_POLICY (passive, for both sides: with the default spinning, idle OpenMP threads steal the
#   cores that OpenBLAS's own thread pool needs; on a loaded 2-core machine SERC ran 4x slower and
#   PyTorch 1.8x slower with it).
# Run from anywhere; it changes to the repository root.
set -eu
cd "$(dirname "$0")/.."
T=${1:-2}
SIZES=${SIZES:-"base large"}
BATCHES=${BATCHES:-"1 8"}
SECONDS_=${SECONDS:-10}
WARMUP=${WARMUP:-1}
REPEAT=${REPEAT:-3}
BIN=${BENCH_SSL:-build/bench_ssl}
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMP_WAIT_POLICY
PYTHON=${PYTHON:-/opt/serc-hf-venv/bin/python}
RES=$(mktemp /tmp/serc_bench_ssl.XXXXXX)
trap 'rm -f "$RES"' EXIT
for S in $SIZES; do
    for B in $BATCHES; do
        SERC_THREADS=$T OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T "$BIN" --size "$S" --batch "$B" \
            --seconds "$SECONDS_" --warmup "$WARMUP" --repeat "$REPEAT" | tee -a "$RES"
        OMP_NUM_THREADS=$T MKL_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T "$PYTHON" bench/bench_ssl.py --size "$S" \
            --threads "$T" --batch "$B" --seconds "$SECONDS_" --warmup "$WARMUP" --repeat "$REPEAT" | tee -a "$RES"
    done
done
echo
echo "frozen encoder, ${SECONDS_} s clips, $T threads, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, every hidden state returned (best of $REPEAT)"
awk '
/^RESULT/ { k = $3 " " $5; if ($2 == "serc") { s[k] = $8; sp[k] = $9; sr[k] = $10; order[++n] = k } else { t[k] = $8; tr[k] = $10 } }
END {
    printf "| model | batch | SERC utt/s | PyTorch utt/s | SERC / PyTorch | SERC activations MiB | SERC RSS MiB | PyTorch RSS MiB |\n"
    printf "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    for (i = 1; i <= n; i++) {
        k = order[i]; split(k, p, " ")
        printf "| WavLM-%s | %s | %.3f | %.3f | %.2f | %s | %s | %s |\n", p[1], p[2], s[k], t[k], (t[k] > 0 ? s[k] / t[k] : 0), sp[k], sr[k], tr[k]
    }
}' "$RES"
