#!/usr/bin/env bash
# Fetch (here, where the package registry is reachable) the wheels the GPU machine's image lacks for
# scripts/gpu-train.sh, into the git-ignored .whl/ that the device call carries. Python 3.12, x86-64.
# polars is not fetched (54 MB): scripts/gpu/polars is a stand-in for the one call ultralytics makes.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
  ultralytics==8.4.190 ultralytics-thop==2.2.3 ultralytics-platform==0.1.99 albumentations==2.0.8 albucore==0.0.24 \
  pydantic==2.11.10 pydantic_core==2.33.2 annotated-types==0.8.0 typing-inspection==0.4.2 simsimd==6.5.16 \
  stringzilla==5.3.2
du -sh .whl
