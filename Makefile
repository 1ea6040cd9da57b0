# Two entry points (see README): `make serve` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5006

.PHONY: setup serve test lint bench demo clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

serve: setup
	$(BIN)/assess-export demo --if-empty
	$(BIN)/assess-export serve --port $(PORT)

lint: setup
	$(BIN)/ruff check dashboard tests bench notebooks
	$(BIN)/ruff format --check dashboard tests bench notebooks

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python bench/run_all.py

demo: setup
	$(BIN)/assess-export demo --if-empty

clean:
	rm -rf $(VENV) data test-output .pytest_cache
