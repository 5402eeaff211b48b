# reach-server developer tasks.  A fresh machine needs only Python 3.11, pip,
# make (and PostgreSQL for the PostgreSQL half of the test suite).
#
#   make            bootstrap .venv from the hash-locked requirements/dev.txt
#   make test       run the test suite (SQLite always; PostgreSQL too when
#                   REACH_TEST_DATABASE_URL is set)
#   make lint       ruff check + ruff format --check + mypy
#   make fmt        ruff format + ruff check --fix
#   make serve      run the server (extra arguments via ARGS=...)
#   make bench      run the benchmarks (extra arguments via BENCH_ARGS=...)
#   make lock       re-generate requirements/*.txt after changing pyproject.toml
#   make clean      remove the virtualenv, caches and build output

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp

ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := venv
.PHONY: venv serve test lint fmt bench lock clean

venv: $(STAMP)

# Re-installs whenever the lock file or the project metadata changes.
$(STAMP): requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --no-deps --no-build-isolation -e .
	touch $@

serve: $(STAMP)
	$(BIN)/reach serve $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Maintainer task: uv is installed into a throwaway virtualenv, never into .venv.
# The lock files must record no download addresses: uv writes none by default,
# and the header only shows UV_CUSTOM_COMPILE_COMMAND.
LOCK_VENV ?= /tmp/reach-lock-venv
UV_COMPILE = UV_CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/uv pip compile \
	pyproject.toml requirements/build.in --universal --generate-hashes --python-version 3.11 --quiet

lock:
	test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install uv; }
	$(UV_COMPILE) -o requirements/runtime.txt
	$(UV_COMPILE) --extra dev -o requirements/dev.txt
	! grep -n -i -E -e '://|--(extra-)?index-url|--find-links' requirements/runtime.txt requirements/dev.txt

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name '*.egg-info' -prune -exec rm -rf {} +
	find . -name __pycache__ -prune -exec rm -rf {} +
