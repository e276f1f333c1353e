# Set-up and checks. `make demo` and `make test` install first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format test-faults clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

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
# when PostgreSQL is missing).
test: lint
	$(BIN)/pytest -m "not faults"

# Long fault tests (minutes): kills, restarts, outages. CI runs them after `make test`.
test-faults: install
	$(BIN)/pytest -m faults tests/faults

clean:
	rm -rf $(VENV) build *.egg-info

# Load benchmark against a bare baseline and the python-telegram-bot / aiogram peers
# (bench/README.md). Its own venv (bench/.venv), fresh PostgreSQL databases; 5 passes, ~18-20 minutes.
BENCH_STAMP := bench/.venv/.installed

$(BENCH_STAMP): bench/requirements.txt
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/python -m pip install -q --upgrade pip
	bench/.venv/bin/python -m pip install -q -r bench/requirements.txt
	touch $(BENCH_STAMP)

.PHONY: bench
bench: install $(BENCH_STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bench/.venv/bin/python -m bench.run
