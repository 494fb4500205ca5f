# The README's two commands:
#   make book   set up .venv and build the book into _build/html (warnings are errors)
#   make test   set up .venv with the test tools, then lint, unit tests, notebooks, book build

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: book test lint unit notebooks build-book clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.book-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[book]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[book,test]"
	touch $@ $(VENV)/.book-installed

book: $(VENV)/.book-installed build-book

test: $(VENV)/.test-installed lint unit notebooks build-book

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit:
	$(BIN)/python -m pytest -q --doctest-modules lrlab tests

# Every chapter executed by nbval (no outputs are stored, so this checks that each cell runs,
# including the hidden assert cells that check the chapter's key numbers).
notebooks:
	$(BIN)/python -m pytest -q --nbval-lax book/

build-book:
	rm -rf _build/html
	$(BIN)/jupyter-book build . --warningiserror --keep-going --all
	$(BIN)/python tests/check_built_book.py _build/html

clean:
	rm -rf _build .pytest_cache .ruff_cache
