#!/bin/sh
# CPU training throughput of the recipe model (recipes/synth/mll.toml): SERC (bench/bench_train.c)
# against its PyTorch twin (bench/train_ref.py), same synthetic batches, same warm-up and timed steps,
# same thread count, one after the other in one run. Prints a table and the ratio SERC / PyTorch.
#
#   bench/bench_train.sh [THREADS...]          (default: 2; e.g. bench/bench_train.sh 1 2)
#
# Environment: STEPS (20), WARMUP (3), BATCH (16), FRAMES (300), MIN_FRAMES (150), SEED (0),
#   REPEATS (1: each repeat runs SERC then PyTorch; the table shows the median of the repeats),
#   BENCH_TRAIN (the bench_train binary; default build/bench_train, else compiled by hand against
#   build/libserc.a into ${TMPDIR:-/tmp}), PYTHON (/usr/bin/python3).
# Run from anywhere; it changes to the repository root.
set -eu
cd "$(dirname "$0")/.."

STEPS=${STEPS:-20}
WARMUP=${WARMUP:-3}
BATCH=${BATCH:-16}
FRAMES=${FRAMES:-300}
MIN_FRAMES=${MIN_FRAMES:-150}
SEED=${SEED:-0}
REPEATS=${REPEATS:-1}
PYTHON=${PYTHON:-/usr/bin/python3}

BIN=${BENCH_TRAIN:-}
if [ -z "$BIN" ]; then
    if [ -x build/bench_train ]; then
        BIN=build/bench_train
    else
        BIN=${TMPDIR:-/tmp}/bench_train
        echo "building $BIN against build/libserc.a" >&2
        gcc -O2 -std=c11 -D_GNU_SOURCE -Icore -Imodels -Itrain -Ilosses -Ibuild/generated bench/bench_train.c \
            build/libserc.a $(pkg-config --libs openblas sndfile soxr espeak-ng) -fopenmp -lm -o "$BIN"
    fi
fi

[ $# -gt 0 ] || set -- 2
COMMON="--batch $BATCH --frames $FRAMES --min-frames $MIN_FRAMES --warmup $WARMUP --steps $STEPS --seed $SEED"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

# the value of key=... on the "result:" line of a run's output
field() { sed -n "s/^result:.* $1=\([0-9.]*\).*/\1/p" "$LOG"; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

ROWS=""
for T in "$@"; do
    S_UPS=""; P_UPS=""; S_MS=""; P_MS=""
    r=1
    while [ $r -le "$REPEATS" ]; do
        SERC_THREADS=$T "$BIN" $COMMON >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
        grep -v '^result:' "$LOG" | sed 's/^/  serc   | /' >&2
        S_UPS="$S_UPS $(field utt_per_s)"; S_MS="$S_MS $(field ms_per_step)"
        OMP_NUM_THREADS=$T MKL_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T "$PYTHON" bench/train_ref.py --threads "$T" $COMMON >"$LOG" 2>&1 \
            || { cat "$LOG" >&2; exit 1; }
        grep -v '^result:' "$LOG" | sed 's/^/  torch  | /' >&2
        P_UPS="$P_UPS $(field utt_per_s)"; P_MS="$P_MS $(field ms_per_step)"
        echo "threads $T repeat $r: SERC$(echo "$S_UPS" | awk '{print " " $NF}') utt/s, PyTorch$(echo "$P_UPS" | awk '{print " " $NF}') utt/s" >&2
        r=$((r + 1))
    done
    su=$(echo "$S_UPS" | tr ' ' '\n' | grep . | median)
    pu=$(echo "$P_UPS" | tr ' ' '\n' | grep . | median)
    sm=$(echo "$S_MS" | tr ' ' '\n' | grep . | median)
    pm=$(echo "$P_MS" | tr ' ' '\n' | grep . | median)
    ROWS="$ROWS$T $su $sm $pu $pm
"
done

echo
echo "batch $BATCH x $FRAMES frames (lengths $MIN_FRAMES..$FRAMES), $WARMUP warm-up + $STEPS timed steps, median of $REPEATS"
printf '%-8s %12s %12s %14s %14s %16s\n' threads "SERC utt/s" "SERC ms/step" "PyTorch utt/s" "PyTorch ms/step" "ratio SERC/PT"
printf '%s' "$ROWS" | while read -r T su sm pu pm; do
    printf '%-8s %12s %12s %14s %15s %16s\n' "$T" "$su" "$sm" "$pu" "$pm" "$(awk -v a="$su" -v b="$pu" 'BEGIN {printf "%.2f", a / b}')"
done
