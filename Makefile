# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/pong.yaml
# one run folder per config: runs/pong, runs/atari_pong
RUN ?= runs/$(basename $(notdir $(CONFIG)))

.PHONY: setup demo test test-all lint bench clean

setup: $(STAMP)

# torch is installed first and pinned by constraints.txt, so nothing pulls a CUDA build.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	touch $@

demo: $(STAMP)
	$(PY) run_pipeline.py --config $(CONFIG) --run $(RUN)

test: $(STAMP)
	$(PY) -m pytest

test-all: $(STAMP)
	$(PY) -m pytest -m ""

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
