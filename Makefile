# The README's two commands:
#   make book   set up .venv and build the book into _build/html (warnings are errors)
#   make test   set up .venv with the test tools, then lint, unit tests, notebooks, book build

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: book test lint unit notebooks build-book mathjax browser clean

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

test: $(VENV)/.test-installed lint unit notebooks build-book browser

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

# MathJax 3 ships with the book so pages typeset math offline: npm's package goes into the
# git-ignored .mathjax/, and book/_ext/lrlab_book.py copies it into the built site.
MATHJAX_VERSION := 3.2.2
MATHJAX := .mathjax/node_modules/mathjax/es5/tex-chtml.js

$(MATHJAX):
	npm install --prefix .mathjax --no-save --no-package-lock --no-audit --no-fund \
		mathjax@$(MATHJAX_VERSION)

mathjax: $(MATHJAX)

build-book: $(MATHJAX)

# The built book in a real browser (tests/browser: Chromium driven by Playwright, offline):
# console errors, typeset math, images, scrubbers, links, accessibility, screenshots in
# _build/screenshots/. `make test BROWSER=0` skips them on purpose.
BROWSER ?= 1

browser:
ifeq ($(BROWSER),0)
	@echo "SKIPPED on purpose (BROWSER=0): the browser tests of the built book did not run."
else
	$(BIN)/python -m pytest -q -m browser tests/browser
endif

clean:
	rm -rf _build .pytest_cache .ruff_cache
