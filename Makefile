# The two commands of the README: `make run` (the whole system) and `make test` (the whole suite).
# Each creates the virtual environment and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit schemas bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## the whole system: docker compose with an engine, else local Kafka + PostgreSQL + services
	@if docker info >/dev/null 2>&1; then docker compose up --build; else $(BIN)/python -m provision.run; fi

test: $(STAMP)  ## the whole suite on real Kafka and PostgreSQL (provisioned by the tests themselves)
	$(BIN)/pytest -p no:cacheprovider

unit: $(STAMP)  ## only the tests that need no services
	$(BIN)/pytest -p no:cacheprovider tests/unit

schemas: $(STAMP)  ## regenerate the event JSON Schemas after a contract change
	$(BIN)/clusnet schemas

bench: $(STAMP)  ## the benchmarks (by hand; a few minutes)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .run
