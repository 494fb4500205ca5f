# The README's two commands:
#   make book   set up .venv and build the book into _build/html (warnings are errors)
#   make test   set up .venv with the test tools, then lint, unit tests, every chapter and
#               its student copy executed, the book built from those executions, browser tests
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

.PHONY: book test lint unit notebooks student-sources student-notebooks build-book \
        build-book-cached student-book lock mathjax browser clean

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

test: $(VENV)/.test-installed lint unit notebooks student-notebooks build-book-cached browser

lock:
	$(PYTHON) requirements/lock.py > $(LOCK).new
	mv $(LOCK).new $(LOCK)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two pytest workers (pytest-xdist): the machines this runs on have two cores.
unit:
	$(BIN)/python -m pytest -q -n 2 --doctest-modules --ignore=tests/browser lrlab tests

# Every chapter executed once, two at a time, one thread per kernel
# (tests/execute_notebooks.py): each cell must run, the hidden assert cells that check the
# chapter's key numbers included; no outputs are stored in the chapters, so nothing else is
# compared. The executed chapters go into a jupyter-cache made afresh for this run, which
# the book build of `make test` (build-book-cached) reads instead of executing them again.
EXECUTE := OMP_NUM_THREADS=1 $(BIN)/python tests/execute_notebooks.py --jobs 2
TEST_CACHE := $(CURDIR)/_build/.test_cache

notebooks:
	rm -rf $(TEST_CACHE)
	$(EXECUTE) --cache $(TEST_CACHE) book/*.ipynb

# The book's sources with every chapter replaced by its student copy (solutions removed).
student-sources:
	rm -rf $(STUDENT)
	mkdir -p $(STUDENT)
	cp -r _toc.yml book $(STUDENT)/
	sed 's/^title: .*/& (student edition)/' _config.yml > $(STUDENT)/_config.yml
	ln -sfn $(CURDIR)/.mathjax $(STUDENT)/.mathjax
	$(BIN)/lrlab student book/*.ipynb --out $(STUDENT)/book

# The student copies must run top to bottom as well.
student-notebooks: student-sources
	$(EXECUTE) $(STUDENT)/book/*.ipynb

build-book:
	rm -rf _build/html
	$(BIN)/jupyter-book build . --warningiserror --keep-going --all
	$(BIN)/python tests/check_built_book.py _build/html

# The same build, but every chapter's outputs come from the cache `notebooks` filled with
# this run's executions (the same code, a moment ago): each chapter runs once, not twice.
# A chapter missing from the cache is executed by the build as usual. (The copied config
# lives in _build/, and Jupyter Book reads a local extension's folder relative to it.)
build-book-cached: notebooks
	rm -rf _build/html
	sed -e 's|^  execute_notebooks: force|  execute_notebooks: cache\n  cache: $(TEST_CACHE)|' \
		-e 's|^    lrlab_book: book/_ext|    lrlab_book: $(CURDIR)/book/_ext|' \
		_config.yml > _build/config-cached.yml
	$(BIN)/jupyter-book build . --config _build/config-cached.yml --warningiserror \
		--keep-going --all
	$(BIN)/python tests/check_built_book.py _build/html

# For instructors: the same book without the solutions (a working `hide_solutions`).
student-book: $(VENV)/.book-installed mathjax student-sources
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

build-book build-book-cached: $(MATHJAX)

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
