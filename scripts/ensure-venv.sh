#!/usr/bin/env bash
# Create or reuse the project venv at .venv and install cardlens with all extras, pinned.
#
# The heavy environment (~9.5 GB: torch, tensorflow, ultralytics, coremltools…) is built once per
# pin set in a cache outside the clone, keyed by a hash of pyproject.toml + the constraints file:
#   ${CARDLENS_VENV_CACHE:-~/.cache/cardlens/venvs}/py311-<hash>
# and .venv is a symlink to it. A fresh clone with the same pins reuses it (only the editable
# install of this checkout is redone, a few seconds); new pins build a new one. pip's own download
# cache is kept as well. CARDLENS_VENV_CACHE=none puts a real venv at .venv instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
CONSTRAINTS=requirements/constraints.txt
EXTRAS=${CARDLENS_EXTRAS:-all}
hash=$(cat pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)
cache=${CARDLENS_VENV_CACHE:-$HOME/.cache/cardlens/venvs}

log() { printf '[venv] %s\n' "$*" >&2; }

if [ "$cache" = "none" ]; then
  target=.venv
  [ -L .venv ] && rm .venv
else
  target="$cache/py311-$hash"
  if [ -e .venv ] && [ ! -L .venv ]; then
    log ".venv is a real directory; keeping it (remove it to use the shared cache at $cache)"
    target=.venv
  fi
fi

stamp="$target/.cardlens-installed-$hash-$EXTRAS"
if [ ! -f "$stamp" ]; then
  if [ ! -x "$target/bin/python" ]; then
    log "creating venv at $target"
    mkdir -p "$(dirname "$target")"
    rm -rf "$target"
    "$PYTHON" -m venv "$target"
  fi
  log "installing cardlens[$EXTRAS] with pins from $CONSTRAINTS (first time for this pin set: a few minutes)"
  "$target/bin/python" -m pip install --quiet --upgrade "pip>=24" "setuptools>=77" wheel
  "$target/bin/python" -m pip install --quiet -c "$CONSTRAINTS" -e ".[$EXTRAS]"
  # easyocr and albumentations pull opencv-python-headless, which overwrites the GUI cv2 that the
  # demo needs: put the GUI build's files back.
  if "$target/bin/python" -m pip show --quiet opencv-python-headless 2>/dev/null; then
    cv_version=$(grep -E '^opencv-python==' "$CONSTRAINTS" | cut -d= -f3)
    "$target/bin/python" -m pip install --quiet --force-reinstall --no-deps "opencv-python==$cv_version"
  fi
  "$target/bin/python" -m pip check >&2 || log "pip check reported conflicts (see above)"
  touch "$stamp"
else
  log "reusing $target (pins unchanged)"
fi

if [ "$target" != ".venv" ]; then
  ln -sfn "$target" .venv
fi
# Point the (possibly shared) venv's editable install at this checkout; cheap and idempotent.
if ! .venv/bin/python - <<'PY' 2>/dev/null
import pathlib, sys, cardlens
sys.exit(0 if pathlib.Path(cardlens.__file__).resolve().parent == (pathlib.Path.cwd() / "cardlens").resolve() else 1)
PY
then
  log "pointing the editable install at $(pwd)"
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
fi
