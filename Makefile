# Two commands set everything up: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REF ?= $(abspath ../shared/reference)
export OVERSTAP_REFERENCE_DIR ?= $(REF)
PORT ?= 8080
DATA ?= data

.PHONY: venv run test lint bench mutate clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/overstap serve --data-dir $(DATA) --port $(PORT) --downstream http://127.0.0.1:8081/soap

test: $(STAMP)
	$(BIN)/ruff check gateway tests benchmarks
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/convert_bench.py

# Named mutations over the promise-carrying modules (docs/testing.md); SUBSET=quick for the CI-sized run.
mutate: $(STAMP)
	$(BIN)/python tests/mutation/run.py $(if $(SUBSET),--subset $(SUBSET),)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache out data
