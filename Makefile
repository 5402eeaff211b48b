# reach-server developer tasks.  A fresh machine needs only Python >= 3.11, pip,
# make (and PostgreSQL for the PostgreSQL half of the test suite).
#
#   make            bootstrap .venv from the hash-locked requirements/dev.txt
#   make test       run the test suite (SQLite always; PostgreSQL too when
#                   REACH_TEST_DATABASE_URL is set)
#   make test-fast  the inner loop: SQLite only, tests marked slow left out (processes,
#                   two nodes, fuzzers, browsers, big property runs; tests/conftest.py),
#                   on every CPU (pytest-xdist: each worker its own server and database)
#   make lint       ruff check + ruff format --check + mypy + the import contracts
#                   (.importlinter: layering, doors, client/bulk independence)
#   make fmt        ruff format + ruff check --fix
#   make serve      run the server (extra arguments via ARGS=...); installs the
#                   runtime dependencies only (requirements/runtime.txt)
#   make bench      run the benchmarks (extra arguments via BENCH_ARGS=...)
#   make lock       re-generate requirements/*.txt after changing pyproject.toml
#   make clean      remove the virtualenv, caches and build output

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := venv
.PHONY: venv serve test test-fast lint fmt bench lock clean

# Checked before anything is installed: an older Python would fail later with an unrelated
# dependency error and leave a broken .venv behind.
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifneq ($(filter-out clean lock,$(or $(MAKECMDGOALS),venv)),)
ifeq ($(PYVER),)
$(error cannot run $(PYTHON); reach-server needs Python >= 3.11 (make PYTHON=python3.11 ...))
endif
ifneq ($(shell $(PYTHON) -c 'import sys; print(sys.version_info >= (3, 11))'),True)
$(error reach-server needs Python >= 3.11, but $(PYTHON) is $(PYVER) (make PYTHON=python3.11 ...))
endif
endif

# The stamps name the Python version, so a .venv made by another Python is rebuilt.
RUNTIME_STAMP := $(VENV)/.runtime-$(PYVER)
DEV_STAMP := $(VENV)/.dev-$(PYVER)

venv: $(DEV_STAMP)

# Re-installs whenever a lock file or the project metadata changes.
$(RUNTIME_STAMP): requirements/runtime.txt pyproject.toml
	@if [ -e $(VENV) ] && ! $(BIN)/python -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(PYVER)")' 2>/dev/null; then \
		echo "$(VENV) was made by another Python (or is broken); rebuilding it with $(PYTHON) $(PYVER)"; \
		rm -rf $(VENV); \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --require-hashes -r requirements/runtime.txt
	$(BIN)/pip install --no-deps --no-build-isolation -e .
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements/dev.txt
	$(BIN)/pip install --require-hashes -r requirements/dev.txt
	touch $@

serve: $(RUNTIME_STAMP)
	$(BIN)/reach serve $(ARGS)

test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# No fast test uses hypothesis or schemathesis: their pytest plugins (≈2.5 s of CPU to import)
# stay unloaded here. The inner loop keeps compiled bytecode even where the environment asks
# for none (PYTHONDONTWRITEBYTECODE): every run's processes (pytest and its workers, the CLI
# and document-builder subprocesses) would compile src/ and rewrite tests/ again, ≈3.5 s of
# CPU each; the caches are gitignored (docs/decisions.md).
test-fast: $(DEV_STAMP)
	env -u REACH_TEST_DATABASE_URL -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -m "not slow" \
		-n auto -p no:schemathesis -p no:hypothesispytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(DEV_STAMP)
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
