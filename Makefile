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
# Test workers (pytest-xdist): a module, or the whole training tier, runs on one worker
# (tests/conftest.py). Two fit these 2-core machines; PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2

.PHONY: run test lint typecheck importlint pytest bench clean wordnet


# METEOR's synonym stage reads Princeton WordNet 3.0 from Debian's wordnet-base
# (/usr/share/wordnet); no registry ships it as a Python package. Installed when
# we can (root, apt-get present); otherwise METEOR runs without synonyms.
WORDNET := /usr/share/wordnet/data.noun

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory wordnet
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

pytest: $(TRAIN) wordnet
	$(PY) -m pytest -n $(PYTEST_WORKERS)

test: lint typecheck importlint pytest

bench: $(STAMP)
	$(PY) -m bench

wordnet:
	@test -f $(WORDNET) || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wordnet-base \
	   || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends wordnet-base)); } \
	  || echo "wordnet-base not installed: METEOR will run without WordNet synonyms"

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
