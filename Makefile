# Everything runs from a local virtualenv, created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Editable, as a path entry: setuptools' default editable mode imports a
# finder module at every interpreter start (about 20 ms of binmon's start-up).
INSTALL := $(PY) -m pip install -q --config-settings editable_mode=compat -e

.PHONY: install test conformance lint demo bench soak fuzz clean

$(STAMP): pyproject.toml setup.py binmon/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(INSTALL) '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Four workers on two cores: most tests wait on sockets and subprocesses.
test: $(STAMP)
	$(PY) -m pytest -n 4

# binmon serve driven by third-party clients (the official SDK, python-binance,
# ccxt, websockets), each as its users call it. Not part of `test`: it
# installs those clients (pinned, the `conformance` extra) into the same venv.
CONFORMANCE_STAMP := $(VENV)/.conformance-installed
$(CONFORMANCE_STAMP): $(STAMP)
	$(INSTALL) '.[dev,conformance]'
	touch $(CONFORMANCE_STAMP)

conformance: $(CONFORMANCE_STAMP)
	$(PY) -m pytest conformance

# mypy strict over binmon/, then the C accelerator's stub against the built module.
lint: $(STAMP)
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest binmon._speedups

demo: $(STAMP)
	$(VENV)/bin/binmon demo

bench: $(STAMP)
	$(INSTALL) '.[dev,bench]'
	$(PY) benchmarks/run.py

# watch --json against a chaotic serve, checked against the server's log of
# what it sent (SOAK_SECONDS, default 300, at most 570). Not part of `test`.
soak: $(STAMP)
	$(PY) benchmarks/soak.py

# The C accelerator against the Python path, differentially (FUZZ_SECONDS,
# default 60); a disagreement fails with the input in fuzz/.artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_STAMP := $(VENV)/.fuzz-installed
$(FUZZ_STAMP): $(STAMP)
	$(INSTALL) '.[dev,fuzz]'
	touch $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	$(PY) fuzz/fuzz_speedups.py -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache fuzz/.corpus fuzz/.artifacts
