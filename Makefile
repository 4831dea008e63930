# Every target installs what it needs first (idempotent; re-runs when pyproject changes).
VENV ?= .venv
PY := $(VENV)/bin/python
# On this CPU box torch==2.13.0 resolves to the local CPU wheel; on a GPU box the same pin
# pulls the CUDA build from PyPI. A torch already in the venv (e.g. your own CUDA build,
# with VENV_FLAGS=--system-site-packages) is kept.
TORCH_SPEC ?= torch==2.13.0
VENV_FLAGS ?=
export S2S_DATA_DIR ?= $(CURDIR)/data

.PHONY: install train test test-full bench lint data clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $@

install: $(VENV)/.installed

train: install  ## the main job on the embedded sample data
	$(PY) train.py $(ARGS)

test: install  ## the fast suite (CI)
	$(PY) -m pytest -q -m "not slow" $(ARGS)

test-full: install  ## everything, including slow trainings
	$(PY) -m pytest -q $(ARGS)

bench: install
	$(PY) -m benchmarks.run $(ARGS)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

data: install  ## download the public Tatoeba fra-eng corpus into $(S2S_DATA_DIR)
	$(PY) -m seq2seq_bench.data.download --dest "$(S2S_DATA_DIR)"

clean:
	rm -rf outputs multirun .pytest_cache
