#!/usr/bin/env bash
# Reproduce the shipped card detector: synthetic data → training → evaluation → packaged model + card.
# Usage: scripts/train-detector.sh [WORKDIR]   (defaults below; about 2 hours on 2 CPU cores)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-data/detector}
SEED=${SEED:-11}
N=${N:-5600}
EPOCHS=${EPOCHS:-18}
IMGSZ=${IMGSZ:-320}
SCALE=${SCALE:-t}
PY=${PY:-.venv/bin/python}
DATA="$WORK/synth-s$SEED-n$N"
OUT="$WORK/model-$SCALE-$IMGSZ"

[ -f "$DATA/data.yaml" ] || $PY -m cardlens synth detector --out "$DATA" --n "$N" --seed "$SEED" --workers 2 --imgsz 416
$PY -m cardlens train detector --data "$DATA/data.yaml" --out "$OUT" --scale "$SCALE" --imgsz "$IMGSZ" \
    --epochs "$EPOCHS" --seed 0 --workers 2 ${RESUME:+--resume}
$PY -m cardlens eval detector --model "$OUT" --data "$DATA/data.yaml" --json --out "$OUT/eval.json" > /dev/null
$PY -m cardlens.detector.package "$OUT" --data "$DATA" --seed "$SEED" --n "$N" --epochs "$EPOCHS"
echo "done: $OUT (copy model.onnx, model.pt, spec.json, MODEL_CARD.md, model_card.json to cardlens/models/card-detector/)"
