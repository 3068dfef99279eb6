#!/usr/bin/env bash
# Train cardlens' YOLO models on a lent GPU machine (16 cores, no network, python3 with torch):
# synthetic data is rendered there, both runs are time-boxed (--hours) and run side by side, and the
# results come back as tarballs under $OUT. The wheels it needs (ultralytics, albumentations and
# their missing dependencies) travel in .whl/ (scripts/gpu-wheels.sh fetches them; README "Training on a lent GPU").
# Usage on the GPU machine: scripts/gpu-train.sh   (env: DET_N FIELDS_N HOURS DET_INIT)
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DET_N=${DET_N:-16000} FIELDS_N=${FIELDS_N:-6000} HOURS=${HOURS:-0.09}
DET_INIT=${DET_INIT:-cardlens/models/card-detector/model.pt} DEVICE=${DEVICE:-0} PY=${PY:-python3}
el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && cp -r scripts/gpu/polars /tmp/site/ || { [ -n "${SKIP_WHEELS:-}" ] || { echo "wheel install failed"; exit 1; }; }
export PYTHONPATH=/tmp/site:$PWD CARDLENS_CACHE=/tmp/clcache PYTHONUNBUFFERED=1
$PY -c "import cardlens.offline as o; o.configure_offline(); import ultralytics, albumentations, torch; \
print('imports ok', ultralytics.__version__, torch.__version__, torch.cuda.is_available())" || exit 1
W=/tmp/w; mkdir -p $W
$PY -m cardlens synth detector --out $W/smoke --n 4 --workers 1 --imgsz 416 --no-progress >/dev/null \
  || { echo "synth smoke failed"; exit 1; }
el "smoke ok"; nvidia-smi -L 2>/dev/null
$PY -m cardlens synth detector --out $W/det --n "$DET_N" --seed 21 --workers 10 --imgsz 416 --no-progress --json > $W/det-gen.json 2>$W/det-gen.err &
$PY -m cardlens synth fields --out $W/fields --n "$FIELDS_N" --seed 31 --workers 6 --no-progress --json > $W/fields-gen.json 2>$W/fields-gen.err &
wait
el "data done"; cat $W/det-gen.json $W/fields-gen.json; tail -n 3 $W/*.err
timeout 440 $PY -m cardlens train detector --data $W/det/data.yaml --out $W/det-run --init "$DET_INIT" \
  --hours "$HOURS" --epochs 60 --device "$DEVICE" --workers 9 --batch 64 --cache ram --no-export \
  --set lr0=0.001 --set warmup_epochs=1 --set close_mosaic=2 > $W/det-train.log 2>&1 &
timeout 440 $PY -m cardlens train fields --data $W/fields/data.yaml --out $W/fields-run \
  --hours "$HOURS" --epochs 80 --device "$DEVICE" --workers 6 --batch 32 --cache ram --no-export > $W/fields-train.log 2>&1 &
wait
el "training done"
tail -n 6 $W/det-train.log $W/fields-train.log
for r in det fields; do
  tar -C $W -czf "$OUT/$r-run.tgz" --exclude='*.cache' $r-run $r-train.log $r-gen.json 2>/dev/null
done
ls -la "$OUT"; el "packed"
