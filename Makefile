# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/callcenter db upgrade
	$(BIN)/callcenter demo-data --if-empty
	$(BIN)/callcenter serve $(if $(CALLCENTER_AMI_HOST),,--simulate)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# two worker processes, each test file on one of them (--dist loadfile: a file's fixtures and
# its order stay together); about 9 minutes instead of 13 on the 2-core machine
pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/agi_load.py
	$(BIN)/python bench/ami_screenpop.py
	$(BIN)/python bench/ami_ingest.py
	$(BIN)/python bench/outbox.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/staffing.py
	$(BIN)/python bench/transcribe.py
	$(BIN)/python bench/wallboard.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
