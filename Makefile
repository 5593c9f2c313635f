# Two commands for a newcomer: `make demo` and `make test`. Both create (once) and reuse .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The exact versions `make test` passed with (README, "Tested environments"). `make setup CONSTRAINTS=`
# installs without them (newest releases within pyproject.toml's ranges).
CONSTRAINTS ?= constraints.txt
LATEST_VENV ?= .venv-latest
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL := 3
export NO_ALBUMENTATIONS_UPDATE := 1
export KERAS_BACKEND ?= tensorflow
export MPLBACKEND ?= Agg

.PHONY: setup demo test test-colab test-oldest test-latest lock torch clean

# Reinstall only when the dependencies or their pins change (pyproject.toml or the constraints file
# is newer than the stamp). Pins that do not fit this Python or platform fail here with a hint.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo "== setting up $(VENV) (first run only: ~2-3 min, ~3 GB) =="
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# pyproject.toml's build requirements too: tests/test_install.py builds the wheel without build
	@# isolation, and a new venv's setuptools (65 on Python 3.11) rejects the SPDX licence string
	$(PY) -m pip install -q --upgrade pip "setuptools>=77" wheel
	@# the distribution was called "colored" before it became "colored-lab": drop an old install of it
	$(PY) -m pip uninstall -q -y colored 2>/dev/null || true
	$(PY) -m pip install -q -e '.[test]' $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) || { \
	  echo "== the pinned install failed: $(CONSTRAINTS) was tested on the Python and platform named in its header;"; \
	  echo "== 'make setup CONSTRAINTS=' installs the newest releases within pyproject.toml's ranges instead =="; \
	  exit 1; }
	$(PY) -m colored.notebook.kernel --install
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/colored demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Colab's stack (Python 3.13, Colab's pinned TensorFlow/Keras/...: ../shared/reference/colab/pip-freeze.txt)
# in .venv-colab: the lab installed as the notebooks' setup cell does, no preinstalled package changed,
# the shipped model, a run of the pinned Keras resumed there, the quick tests and the chain 01 → 07.
test-colab:
	python3 tools/test_stack.py --stack colab

# The oldest Python and lower bounds pyproject.toml allows (.venv-oldest): the model files load there
# with the same output (the shipped one, and a run of the pinned Keras, resumed there too).
test-oldest:
	python3 tools/test_stack.py --stack oldest

# The same tests on the newest releases of everything (no constraints), in a venv of its own.
# Upgrades on every run, so it always tests what a fresh unpinned install would get today.
test-latest:
	test -x $(LATEST_VENV)/bin/python || $(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[test]'
	$(LATEST_VENV)/bin/python -m colored.notebook.kernel --install
	$(LATEST_VENV)/bin/python -m pip list --format=freeze | grep -iE '^(tensorflow|keras|jax|numpy)=='
	$(LATEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Rewrite the pins from $(VENV)'s installed versions (the project's dependency tree only).
# Refresh: `make test-latest && make lock VENV=.venv-latest && make test`, then commit constraints.txt.
lock:
	$(VENV)/bin/python tools/lock.py > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	git diff --stat -- $(CONSTRAINTS) || true

# Optional: torch's CPU build for the torch-backend test (tests/test_backends.py skips without it).
# PyPI's default torch wheel is a multi-GB CUDA build, so this takes torch only from a local wheel
# (pip's find-links); its small dependencies may still come from the index.
torch: setup
	$(PY) -m pip install -q --no-index --no-deps $(TORCH)
	$(PY) -m pip install -q $(TORCH) $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

clean:
	rm -rf runs .pytest_cache
