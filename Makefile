# Two commands set everything up on a fresh machine:  make scan  and  make test.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
EXAMPLE ?= examples/card_photo.jpg

.PHONY: venv scan test test-slow bench bench-synth examples lint clean help

help:
	@echo "make scan   - set up .venv if needed and scan the bundled example image"
	@echo "make test   - set up .venv if needed and run the test suite"
	@echo "make bench / bench-synth / examples / test-slow / lint / clean"

venv:
	@./scripts/ensure-venv.sh

scan: venv
	$(PY) -m cardlens scan $(EXAMPLE)

test: venv
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m "slow"

bench: venv
	$(PY) -m pytest benchmarks -p no:cacheprovider --benchmark-columns=min,median,mean,max,rounds

bench-synth: venv
	$(PY) benchmarks/bench_synth.py --n 1000 --workers 2

examples: venv
	$(PY) -m cardlens synth examples --root .

lint: venv
	$(PY) -m ruff check cardlens tests

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	@if [ -L $(VENV) ]; then rm $(VENV); else echo "leaving real $(VENV) in place (rm -rf it yourself)"; fi
