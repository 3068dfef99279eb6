# Two commands set everything up on a fresh machine:  make scan  and  make test.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
EXAMPLE ?= examples/card_photo.jpg
# the shipped ONNX bundle `make scan` runs (ONNX Runtime only: no torch, no ultralytics); `make shipped-bundle` rebuilds it
SCAN_BUNDLE ?= cardlens/models/bundles/onnx-int8

.PHONY: venv scan shipped-bundle test test-slow stress bench bench-quick bench-full bench-synth examples lint clean help bundles demo-video models

help:
	@echo "make scan   - set up .venv if needed and scan the bundled example image"
	@echo "make test   - set up .venv if needed and run the test suite"
	@echo "make stress - long fuzz, soak, leak and offline tests; prints cases, crashes, RSS growth, leaks"
	@echo "make bench / bench-synth / bundles / demo-video / examples / test-slow / lint / clean"

venv:
	@./scripts/ensure-venv.sh

scan: venv
	$(PY) -m cardlens scan --bundle $(SCAN_BUNDLE) $(EXAMPLE)

shipped-bundle: venv   ## rebuild the bundle `make scan` uses from the committed weights
	$(PY) -m cardlens export --format onnx --precision int8 --out cardlens/models/bundles --accuracy synthetic
	rm -rf cardlens/models/bundles/_accuracy-synthetic

test: venv
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m "slow"

stress: venv   ## long fuzz / soak / leak / offline variants (issue #9), then the figures from out/stress/
	rm -rf out/stress
	$(PY) -m pytest -q -p no:cacheprovider -m stress; status=$$?; $(PY) scripts/stress_summary.py out/stress; exit $$status

bench: venv   ## pytest-benchmark of the hot paths (not part of make test)
	$(PY) -m pytest benchmarks -p no:cacheprovider --benchmark-columns=min,median,mean,max,rounds

bench-quick: venv   ## cardlens bench --quick: every output in under 3 minutes (out/bench-quick)
	$(PY) -m cardlens bench --quick --out out/bench-quick

bench-full: venv   ## the full report, with every bundle from `make bundles` (about half an hour)
	$(PY) -m cardlens bench --bundles bundles --out out/bench

bench-synth: venv
	$(PY) benchmarks/bench_synth.py --n 1000 --workers 2

examples: venv
	$(PY) -m cardlens synth examples --root .

lint: venv
	$(PY) -m ruff check cardlens tests

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	@if [ -L $(VENV) ]; then rm $(VENV); else echo "leaving real $(VENV) in place (rm -rf it yourself)"; fi

bundles: venv   ## every export bundle (onnx/tflite/coreml × fp32/fp16/int8) from the committed weights
	$(PY) -m cardlens export --format all --precision all --out bundles

demo-video: venv   ## the demo, headless, on the synthetic two-card video
	$(PY) -c "from cardlens.demo.synthetic_video import write_synthetic_video as w; w('out/two-cards.mp4')"
	$(PY) -m cardlens demo out/two-cards.mp4 --headless --out out/demo

models: venv   ## the shipped models' recipe end to end: synth, train, evaluate, gate, export, bench, register (hours on CPU)
	$(PY) -m cardlens pipeline run --config $(or $(CONFIG),default)
