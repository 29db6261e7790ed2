# The two commands of the README: `make run` (the whole system) and `make test` (the whole suite).
# Each creates the virtual environment and installs what it needs on a fresh machine (Python 3.11+;
# Java, Maven, PostgreSQL and Chromium through apt when run as root on Debian, else it says what).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit schemas bench system system-test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

system:  ## Java, Maven and PostgreSQL for the local Kafka and databases
	@$(PYTHON) -m provision.system_deps

system-test:  ## the same, plus Chromium and its driver for the browser tests
	@$(PYTHON) -m provision.system_deps --browser

run: $(STAMP)  ## the whole system: docker compose with an engine, else local Kafka + PostgreSQL + supervised services (WORKERS=N: N worker processes per service)
	@if docker info >/dev/null 2>&1; then docker compose up --build; \
	else $(MAKE) --no-print-directory system && $(BIN)/python -m provision.run; fi

test: $(STAMP) lint system-test  ## lint, then the whole suite on real Kafka and PostgreSQL (provisioned by the tests)
	$(BIN)/pytest -p no:cacheprovider

lint: $(STAMP)  ## style, format and types: what these refuse does not land
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services provision

unit: $(STAMP)  ## only the tests that need no services
	$(BIN)/pytest -p no:cacheprovider tests/unit

schemas: $(STAMP)  ## regenerate the event JSON Schemas and AsyncAPI documents after a contract change
	$(BIN)/clusnet schemas

bench: $(STAMP)  ## the benchmarks (by hand; a few minutes)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .run
