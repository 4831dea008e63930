# Every target installs what it needs first (idempotent; re-runs when pyproject or the lock
# changes), from requirements.lock: the exact versions CI tested.
VENV ?= .venv
LOCK := requirements.lock
PY := $(VENV)/bin/python
# On this CPU box torch==2.13.0 resolves to the local CPU wheel; on a GPU box the same pin
# pulls the CUDA build from PyPI. A torch already in the venv (e.g. your own CUDA build,
# with VENV_FLAGS=--system-site-packages) is kept.
TORCH_SPEC ?= torch==2.13.0
VENV_FLAGS ?=
export S2S_DATA_DIR ?= $(CURDIR)/data

.PHONY: install train test test-full test-latest test-oldest bench lint lock data clean

$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(PY) || python3 -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -c $(LOCK) -e ".[all,dev]"
	touch $@

install: $(VENV)/.installed

train: install  ## the main job on the embedded sample data
	$(PY) train.py $(ARGS)

test: install  ## the fast suite (CI)
	$(PY) -m pytest -q -m "not slow" $(ARGS)

test-full: install  ## everything, including slow trainings
	$(PY) -m pytest -q $(ARGS)

# A throwaway venv: $(call fresh_venv,DIR) makes DIR with torch from TORCH_SPEC in it.
fresh_venv = rm -rf $(1) && python3 -m venv $(1) && $(1)/bin/pip install -q "$(TORCH_SPEC)"

lock:  ## re-resolve the newest versions pyproject allows into requirements.lock (then make test)
	$(call fresh_venv,.venv-lock)
	.venv-lock/bin/pip install -q -e ".[all,dev]"
	.venv-lock/bin/python scripts/lock.py write $(LOCK)

test-latest:  ## the fast suite on the newest release of every dependency (not CI)
	$(call fresh_venv,.venv-latest)
	.venv-latest/bin/pip install -q --upgrade --upgrade-strategy eager -e ".[all,dev]"
	.venv-latest/bin/python scripts/lock.py diff $(LOCK)
	.venv-latest/bin/python -m pytest -q -m "not slow" -p no:cacheprovider $(ARGS)

test-oldest:  ## the fast suite on every dependency at pyproject's lower bound (not CI)
	bash scripts/oldest_env.sh .venv-oldest "$(TORCH_SPEC)"
	.venv-oldest/bin/python -m pytest -q -m "not slow" -p no:cacheprovider $(ARGS)

bench: install
	$(PY) -m benchmarks.run $(ARGS)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

data: install  ## download the public Tatoeba fra-eng corpus into $(S2S_DATA_DIR)
	$(PY) -m seq2seq_bench.data.download --dest "$(S2S_DATA_DIR)"

clean:
	rm -rf outputs multirun .pytest_cache .venv-lock .venv-latest .venv-oldest
