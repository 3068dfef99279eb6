#!/usr/bin/env bash
# Stages 1–2 of the shipped card detector: two training stages on synthetic scenes (stage 2 continues
# from stage 1's weights on a fresh synthetic set), evaluation, model card, install. Stages 3–4 continue
# on a lent GPU machine: scripts/gpu-train.sh (see the detector's MODEL_CARD.md for the exact commands).
# Usage: scripts/train-detector.sh [WORKDIR]     (about 2 h 15 min on 2 CPU cores)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-data/detector}
PY=${PY:-.venv/bin/python}
SCALE=${SCALE:-t}
IMGSZ=${IMGSZ:-320}
S1_SEED=11 S1_N=5600 S1_EPOCHS=${S1_EPOCHS:-18}
S2_SEED=12 S2_N=8000 S2_EPOCHS=${S2_EPOCHS:-13}
D1="$WORK/synth-s$S1_SEED-n$S1_N" D2="$WORK/synth-s$S2_SEED-n$S2_N"
R1="$WORK/stage1-$SCALE-$IMGSZ" R2="$WORK/stage2-$SCALE-$IMGSZ"

for spec in "$D1:$S1_SEED:$S1_N" "$D2:$S2_SEED:$S2_N"; do
  IFS=: read -r dir seed n <<<"$spec"
  [ -f "$dir/data.yaml" ] || $PY -m cardlens synth detector --out "$dir" --n "$n" --seed "$seed" --workers 2 --imgsz 416
done
$PY -m cardlens train detector --data "$D1/data.yaml" --out "$R1" --scale "$SCALE" --imgsz "$IMGSZ" \
    --epochs "$S1_EPOCHS" --seed 0 --workers 2
$PY -m cardlens train detector --data "$D2/data.yaml" --out "$R2" --scale "$SCALE" --imgsz "$IMGSZ" \
    --epochs "$S2_EPOCHS" --seed 0 --workers 2 --init "$R1/model.pt"
$PY -m cardlens eval detector --model "$R2" --data "$D2/data.yaml" --json --out "$R2/eval.json" > /dev/null
COMMIT=$(git rev-parse --short HEAD)
$PY -m cardlens.detector.package "$R2" --stage "$R1:$D1:$S1_SEED:$S1_N:$COMMIT" \
    --stage "$R2:$D2:$S2_SEED:$S2_N:$COMMIT" --install
