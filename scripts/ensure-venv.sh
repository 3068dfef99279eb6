#!/usr/bin/env bash
# Create or reuse the project venv at .venv and install cardlens with all extras, pinned.
#
# The heavy environment (~9.5 GB: torch, tensorflow, ultralytics, coremltools…) is built once per
# pin set in a cache outside the clone, keyed by a hash of the dependency pins:
#   ${CARDLENS_VENV_CACHE:-~/.cache/cardlens/venvs}/py311-<hash>
# and .venv is a symlink to it. A fresh clone with the same pins reuses it (only the editable
# install of this checkout is redone, a few seconds); new pins build a new one. pip's own download
# cache is kept as well. CARDLENS_VENV_CACHE=none puts a real venv at .venv instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
CONSTRAINTS=requirements/constraints.txt
EXTRAS=${CARDLENS_EXTRAS:-all}
# Key: the dependency tables of pyproject.toml + the constraints file (not tool settings).
hash=$( { "$PYTHON" -c 'import json, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print(json.dumps([p.get("requires-python"), p["dependencies"], p.get("optional-dependencies")], sort_keys=True))'
          cat "$CONSTRAINTS"; } | sha256sum | cut -c1-16)
cache=${CARDLENS_VENV_CACHE:-$HOME/.cache/cardlens/venvs}

log() { printf '[venv] %s\n' "$*" >&2; }
# This machine's pip config lists local file indexes that lack most projects; pip warns once per
# project. Everything else pip prints goes through.
pip_in() {
  local py=$1; shift
  local status=0
  "$py" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; } || status=$?
  return "$status"
}

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
  pip_in "$target/bin/python" install --quiet "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
  pip_in "$target/bin/python" install --quiet -c "$CONSTRAINTS" -e ".[$EXTRAS]"
  # easyocr and albumentations pull opencv-python-headless, which overwrites the GUI cv2 that the
  # demo needs: put the GUI build's files back.
  if "$target/bin/python" -m pip show --quiet opencv-python-headless 2>/dev/null; then
    cv_version=$(grep -E '^opencv-python==' "$CONSTRAINTS" | cut -d= -f3)
    pip_in "$target/bin/python" install --quiet --force-reinstall --no-deps "opencv-python==$cv_version"
  fi
  pip_in "$target/bin/python" check >&2 || log "pip check reported conflicts (see above)"
  touch "$stamp"
  if [ "$target" != ".venv" ]; then  # keep the cache to the two newest pin sets (each ~9.5 GB)
    ls -1dt "$cache"/py311-* 2>/dev/null | tail -n +3 | while read -r old; do
      [ "$old" != "$target" ] && { log "removing old cached venv $old"; rm -rf "$old"; }
    done
  fi
else
  log "reusing $target (pins unchanged)"
fi

if [ "$target" != ".venv" ]; then
  ln -sfn "$target" .venv
fi
# Point the (possibly shared) venv's editable install at this checkout; cheap and idempotent.
# (-I: the check must not see ./cardlens through the current directory.)
if ! .venv/bin/python -I -c 'import pathlib, sys, cardlens
sys.exit(pathlib.Path(cardlens.__file__).resolve().parent != pathlib.Path(sys.argv[1]).resolve())' "$PWD/cardlens" 2>/dev/null
then
  log "pointing the editable install at $PWD"
  pip_in .venv/bin/python install --quiet --no-deps --no-build-isolation -e .
fi
# The demo's window test runs under a virtual X server. Debian's xvfb (about 10 s from the package
# registry); skipped quietly where apt-get or root is unavailable (the window test then says why).
if ! command -v Xvfb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  log "installing xvfb for the demo's window test"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q xvfb >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q xvfb >/dev/null 2>&1; } \
    || log "could not install xvfb; the demo window test will be skipped"
fi
