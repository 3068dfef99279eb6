#!/usr/bin/env bash
# Fine-tune cardlens' text recognizer on a lent GPU machine (16 cores, no network, python3 with torch): the
# line crops are rendered there on every core, training is time-boxed (--max-minutes) with its batches
# augmented by worker processes, and the run comes back as a tarball under $OUT. The wheels travel in .whl/
# as for scripts/gpu-train.sh (README "Training on a lent GPU"). Smoke-test it here on the CPU with
#   SKIP_WHEELS=1 PY=.venv/bin/python DEVICE=cpu LINES_N=40 EPOCHS=1 GEN_WORKERS=2 TRAIN_WORKERS=1 \
#     OUT=/tmp/rec-out scripts/gpu-train-recognizer.sh
# env: LINES_N (cards whose lines are rendered), SEED, EPOCHS, MINUTES (time box), LR, WARP (--glyph-warp),
#      WIDTH, INIT (weights to start from; empty for a fresh net), DEVICE, GEN_WORKERS, TRAIN_WORKERS, BATCH
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
LINES_N=${LINES_N:-24000} SEED=${SEED:-131} EPOCHS=${EPOCHS:-10} MINUTES=${MINUTES:-4} LR=${LR:-0.0005}
WARP=${WARP:-0} WIDTH=${WIDTH:-1.0} INIT=${INIT-cardlens/models/text-recognizer/model.pt} DEVICE=${DEVICE:-cuda}
GEN_WORKERS=${GEN_WORKERS:-15} TRAIN_WORKERS=${TRAIN_WORKERS:-12} BATCH=${BATCH:-128} PY=${PY:-python3}
el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && cp -r scripts/gpu/polars /tmp/site/ || { [ -n "${SKIP_WHEELS:-}" ] || { echo "wheel install failed"; exit 1; }; }
export PYTHONPATH=/tmp/site:$PWD CARDLENS_CACHE=/tmp/clcache PYTHONUNBUFFERED=1
$PY -c "import cardlens.offline as o; o.configure_offline(); import cv2, torch; \
print('imports ok', torch.__version__, torch.cuda.is_available())" || exit 1
W=${W:-/tmp/w-rec}; rm -rf "$W"; mkdir -p "$W"
$PY -m cardlens synth lines --out "$W/lines" --n "$LINES_N" --seed "$SEED" --workers "$GEN_WORKERS" --scene-size 640 \
  --card-scale 0.35 0.95 --corner-error 0.02 > "$W/lines-gen.log" 2>&1 || { tail -n 20 "$W/lines-gen.log"; exit 1; }
el "lines done"; tail -n 1 "$W/lines-gen.log"
INIT_ARGS=(); [ -n "$INIT" ] && INIT_ARGS=(--init "$INIT")
$PY -m cardlens train recognizer --data "$W/lines" --out "$W/rec-run" "${INIT_ARGS[@]}" --epochs "$EPOCHS" \
  --lr "$LR" --batch "$BATCH" --width "$WIDTH" --seed "$SEED" --glyph-warp "$WARP" --device "$DEVICE" \
  --workers "$TRAIN_WORKERS" --max-minutes "$MINUTES" --json > "$W/rec-train.log" 2>&1
status=$?
el "training done (exit $status)"; tail -n 4 "$W/rec-train.log"
tar -C "$W" -czf "$OUT/rec-run.tgz" rec-run rec-train.log lines-gen.log
ls -la "$OUT"; el "packed"
exit $status
