# Two commands set up a fresh machine: `make run` and `make test`.
# Each creates .venv and installs the project into it when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TRAIN  := $(VENV)/.installed-train
# The CPU build of torch, named exactly: this machine's pip finds it on local disk, while
# the `train` extra's range alone would let pip pick a ~3 GB CUDA build. A GPU machine
# can name another build (e.g. TORCH_SPEC='torch==2.14.1').
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test lint typecheck importlint pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The open-weight training tier (tests/training): torch first, then the `train` extra,
# which then finds torch satisfied and installs no other build of it.
$(TRAIN): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet '$(TORCH_SPEC)'
	$(PY) -m pip install --quiet -e '.[dev,train]'
	@touch $(TRAIN)

run: $(STAMP)
	$(PY) -m bot

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The architecture's rules (pyproject.toml [tool.importlinter], docs/architecture.md).
importlint: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache

pytest: $(TRAIN)
	$(PY) -m pytest

test: lint typecheck importlint pytest

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
