#!/usr/bin/env bash
# The SSL recipe: embed a corpus once with a frozen encoder, then train the multi-loss head on the cache.
#
#   recipes/ssl/run.sh ENCODER_DIR CORPUS_DIR [serc train options, e.g. --set optim.epochs=20]
#
# ENCODER_DIR: a Hugging Face checkpoint folder of wav2vec2, HuBERT, WavLM or DistilHuBERT (config.json +
# model.safetensors). CORPUS_DIR: a folder with all.jsonl, train.jsonl, dev.jsonl, test.jsonl (what
# `serc synth` and `serc split` write). The features go to CORPUS_DIR/features-<encoder>.safetensors
# (reused when present and newer than all.jsonl); the run directory is runs/ssl-<encoder> unless
# --set run.out=... says otherwise. SERC names the serc binary (default: build/serc).
set -euo pipefail
if [ $# -lt 2 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    [ $# -ge 2 ] || exit 2
    exit 0
fi
SERC=${SERC:-build/serc}
ENC=$1
CORPUS=$2
shift 2
NAME=$(basename "${ENC%/}")
FEATS=$CORPUS/features-$NAME.safetensors
HERE=$(cd "$(dirname "$0")" && pwd)
for f in all train dev test; do
    [ -f "$CORPUS/$f.jsonl" ] || { echo "run.sh: $CORPUS/$f.jsonl missing" >&2; exit 1; }
done
if [ ! -f "$FEATS" ] || [ "$CORPUS/all.jsonl" -nt "$FEATS" ]; then
    echo "== embedding $CORPUS/all.jsonl with $ENC -> $FEATS"
    "$SERC" embed --encoder "$ENC" --manifest "$CORPUS/all.jsonl" --out "$FEATS"
fi
echo "== training on $FEATS"
LABELS=$(ls "$CORPUS"/*.labels 2>/dev/null | head -1 || true)
"$SERC" train --config "$HERE/mll-ssl.toml" \
    --set data.train="$CORPUS/train.jsonl" --set data.dev="$CORPUS/dev.jsonl" --set data.test="$CORPUS/test.jsonl" \
    ${LABELS:+--set data.labels="$LABELS"} --set data.features="$FEATS" --set run.out="runs/ssl-$NAME" "$@"
