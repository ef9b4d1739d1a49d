# Everything runs from a local virtualenv, created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test conformance lint demo bench soak clean

$(STAMP): pyproject.toml setup.py binmon/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# binmon serve driven by third-party clients (the official SDK, python-binance,
# ccxt, websockets), each as its users call it. Not part of `test`: it
# installs those clients (pinned, the `conformance` extra) into the same venv.
conformance: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,conformance]'
	$(PY) -m pytest conformance

lint: $(STAMP)
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy

demo: $(STAMP)
	$(VENV)/bin/binmon demo

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) benchmarks/run.py

# watch --json against a chaotic serve, checked against the server's log of
# what it sent (SOAK_SECONDS, default 300, at most 570). Not part of `test`.
soak: $(STAMP)
	$(PY) benchmarks/soak.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
