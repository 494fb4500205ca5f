# The README's two commands:
#   make book   set up .venv and build the book into _build/html (warnings are errors)
#   make test   set up .venv with the test tools, then lint, unit tests, notebooks (and their
#               student copies), book build
# For maintainers:
#   make lock          re-pin requirements/lock.txt from pyproject.toml (after changing a dependency)
#   make student-book  a second HTML book from the student notebooks, into _build/student-html

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Every install goes through the lock: the versions CI tested (see requirements/lock.py).
LOCK   := requirements/lock.txt
# Student copies of the chapters, with the book's other pages: a book of its own.
STUDENT := _build/student

.PHONY: book test lint unit notebooks student-sources student-notebooks build-book student-book \
        lock mathjax browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade -c $(LOCK) pip

# Stamp files: reinstall only when pyproject.toml or the lock changes.
$(VENV)/.book-installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -c $(LOCK) -e ".[book]"
	touch $@

$(VENV)/.test-installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -c $(LOCK) -e ".[book,test,sweep]"
	touch $@ $(VENV)/.book-installed

book: $(VENV)/.book-installed build-book

test: $(VENV)/.test-installed lint unit notebooks student-notebooks build-book browser

lock:
	$(PYTHON) requirements/lock.py > $(LOCK).new
	mv $(LOCK).new $(LOCK)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit:
	$(BIN)/python -m pytest -q --doctest-modules lrlab tests

# Every chapter executed by nbval (no outputs are stored, so this checks that each cell runs,
# including the hidden assert cells that check the chapter's key numbers).
notebooks:
	$(BIN)/python -m pytest -q --nbval-lax book/

# The book's sources with every chapter replaced by its student copy (solutions removed).
student-sources:
	rm -rf $(STUDENT)
	mkdir -p $(STUDENT)
	cp -r _toc.yml book $(STUDENT)/
	sed 's/^title: .*/& (student edition)/' _config.yml > $(STUDENT)/_config.yml
	$(BIN)/lrlab student book/*.ipynb --out $(STUDENT)/book

# The student copies must run top to bottom as well.
student-notebooks: student-sources
	$(BIN)/python -m pytest -q --nbval-lax $(STUDENT)/book/

build-book:
	rm -rf _build/html
	$(BIN)/jupyter-book build . --warningiserror --keep-going --all
	$(BIN)/python tests/check_built_book.py _build/html

# For instructors: the same book without the solutions (a working `hide_solutions`).
student-book: $(VENV)/.book-installed student-sources
	rm -rf _build/student-html $(STUDENT)/_build
	$(BIN)/jupyter-book build $(STUDENT) --warningiserror --keep-going --all
	mv $(STUDENT)/_build/html _build/student-html
	$(BIN)/python tests/check_built_book.py _build/student-html

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
