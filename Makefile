# Shortcuts for the README's commands. Everything also works without make.
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/movie:
	python3 -m venv $(VENV) && $(BIN)/pip install -q -e ".[test]"

movie: $(BIN)/movie  ## the offline movie
	$(BIN)/movie generate "How volcanoes erupt" --duration 60

test: $(BIN)/movie
	$(BIN)/pytest -q -p no:cacheprovider

ui: $(BIN)/movie
	$(BIN)/movie ui

lint: $(BIN)/movie
	$(BIN)/ruff check . && $(BIN)/ruff format --check movie_assets && $(BIN)/lint-imports

bench: $(BIN)/movie
	$(BIN)/python bench/generate_bench.py
	$(BIN)/python bench/render_bench.py
	$(BIN)/python bench/regenerate_bench.py
	$(BIN)/python bench/batch_bench.py

.PHONY: movie test ui lint bench
