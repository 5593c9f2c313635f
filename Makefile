# Two commands for a newcomer: `make demo` and `make test`. Both create (once) and reuse .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL := 3
export NO_ALBUMENTATIONS_UPDATE := 1
export KERAS_BACKEND ?= tensorflow
export MPLBACKEND ?= Agg

.PHONY: setup demo test clean

# Reinstall only when the package's dependencies change (pyproject.toml is newer than the stamp).
$(STAMP): pyproject.toml
	@echo "== setting up $(VENV) (first run only: ~2-3 min, ~3 GB) =="
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m colored.kernel --install
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/colored demo

test: setup
	$(PY) -m pytest

clean:
	rm -rf runs .pytest_cache
