# The two commands of the README: `make run` (the whole system) and `make test` (the whole suite).
# Each creates the virtual environment and installs what it needs on a fresh machine (Python 3.11+;
# Java, Maven, PostgreSQL and Chromium through apt when run as root on Debian, else it says what).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp names the pyproject.toml it installed, so a changed dependency list (a pull, a merge)
# reinstalls even when git left the file older than the stamp.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint unit schemas screenshots bench chaos system system-test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

system:  ## Java, Maven and PostgreSQL for the local Kafka and databases
	@$(PYTHON) -m provision.system_deps

system-test:  ## the same, plus Chromium for the browser tests (Playwright drives it: no driver)
	@$(PYTHON) -m provision.system_deps --browser

run: $(STAMP)  ## the whole system: docker compose with an engine, else local Kafka + PostgreSQL + supervised services (WORKERS=N: N worker processes per service)
	@if docker info >/dev/null 2>&1; then docker compose up --build; \
	else $(MAKE) --no-print-directory system && $(BIN)/python -m provision.run; fi

test: $(STAMP) lint system-test  ## lint, then the whole suite on real Kafka and PostgreSQL (provisioned by the tests)
	$(BIN)/pytest -p no:cacheprovider

lint: $(STAMP)  ## style, format and types: what these refuse does not land
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services provision examples bench

unit: $(STAMP)  ## only the tests that need no services
	$(BIN)/pytest -p no:cacheprovider tests/unit

schemas: $(STAMP)  ## regenerate the event JSON Schemas and AsyncAPI documents after a contract change
	$(BIN)/clusnet schemas

chaos: $(STAMP) system  ## the long fault run (~10 min, by hand): prints the table and writes docs/reliability.md
	$(BIN)/python -m tests.faults.harness --minutes $(or $(MINUTES),10)

screenshots: $(STAMP) system-test  ## refresh docs/screenshots/ from the portal's browser tests
	SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/portal -k "browser"

bench: $(STAMP)  ## the benchmarks (by hand; a few minutes)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .run
