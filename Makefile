# Set-up and checks. `make demo` and `make test` install first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format test-faults test-install clean lock

install: $(STAMP)

# Everything from the lock (hashes checked), then the gateway itself without resolving anything;
# then the bytecode without docstrings that processes run from under PYTHONOPTIMIZE=2, as the
# image runs them (docs/operations.md#memory), so no process compiles it at start.
$(STAMP): requirements-dev.lock requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	$(BIN)/python -OO -m compileall -q -j 0 $(VENV)/lib gateway channels identity approvals
	touch $(STAMP)

# Re-resolve the locks from pyproject.toml (newest versions its ranges allow), with uv in its own
# venv: requirements.lock (runtime: the Dockerfile, the PaaS), requirements-dev.lock (+ the dev
# extras: make install, CI) and requirements.txt (the buildpack's: the same pins without hashes,
# since pip refuses hashes beside `.`, the gateway itself). One universal resolution for
# Python >= 3.11 on every platform (deploy/README.md#lock-files).
UV_VERSION := 0.13.9
LOCK_VENV := .venv-lock
UV := $(LOCK_VENV)/bin/uv
COMPILE = $(UV) pip compile --universal --python-version 3.11

$(UV):
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"

lock: $(UV)
	$(COMPILE) -q --generate-hashes pyproject.toml -o requirements.lock
	$(COMPILE) -q --generate-hashes --extra dev pyproject.toml -o requirements-dev.lock
	{ echo "# The buildpack's install: the pins of requirements.lock (make lock) and the gateway."; \
	  echo "."; \
	  $(COMPILE) --no-header --no-annotate requirements.lock; } > requirements.txt

demo: install
	$(BIN)/gateway demo

# Style, the import contracts and the types (pyproject.toml: [tool.importlinter], [tool.mypy]);
# both keep a cache (.import_linter_cache/, .mypy_cache/), so a second run takes seconds. Then
# pip-audit over the installed .venv: a known vulnerability fails; an unreachable advisory
# service warns loudly and passes, unless AUDIT_REQUIRED=1 (scripts/audit_dependencies.py).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(BIN)/python scripts/audit_dependencies.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The whole suite, every database test on SQLite and PostgreSQL (fails, not skips, under CI=1
# when PostgreSQL is missing): TEST_WORKERS processes at once (pytest-xdist; most tests wait on
# sockets and subprocesses, not CPU; each worker has a PostgreSQL database of its own), a test
# file per worker; then the tests that assert on wall-clock windows, alone (marker `timing`).
TEST_WORKERS ?= 4
test: lint
	$(BIN)/pytest -m "not faults and not install and not timing" -n $(TEST_WORKERS) --dist loadfile --durations=15
	$(BIN)/pytest -m "timing and not faults and not install" --durations=5

# The installs the Dockerfile and the buildpack run, from the lock files into clean venvs, then
# `gateway --version` and `gateway migrate` (PyPI, pip's cache; ~3 minutes). CI runs them.
test-install: install
	$(BIN)/pytest -m install tests/deploy

# Long fault tests (minutes): kills, restarts, outages. CI runs them after `make test`.
test-faults: install
	$(BIN)/pytest -m faults tests/faults

clean:
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info

# Load benchmark against a bare baseline and the python-telegram-bot / aiogram peers
# (bench/README.md). Its own venv (bench/.venv), fresh PostgreSQL databases; 5 passes, ~18-20 minutes.
BENCH_STAMP := bench/.venv/.installed

$(BENCH_STAMP): bench/requirements.txt
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/python -m pip install -q --upgrade pip
	bench/.venv/bin/python -m pip install -q -r bench/requirements.txt
	bench/.venv/bin/python -OO -m compileall -q -j 0 bench/.venv/lib  # the peers run like the gateway
	touch $(BENCH_STAMP)

.PHONY: bench
bench: install $(BENCH_STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bench/.venv/bin/python -m bench.run
