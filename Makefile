# Two commands matter: `make run` and `make test`. Both set everything up from scratch.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PO := $(wildcard locales/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
# Tests run in parallel (pytest-xdist), each in its own temporary folder and emulator port.
# Most of a test is waiting (loopback HTTP, timers, subprocesses starting), so two workers a
# core keep the cores busy: on 2 cores, 4 workers took the suite from ~100 s to ~65 s.
# `worksteal` hands a long test's neighbours to idle workers (400 tests: 90 s -> 80 s).
TEST_WORKERS ?= 4
BABEL_KEYWORDS := -k tr -k N_ -k ngettext:1,2 -k pgettext:1c,2

.PHONY: run test lint format catalogs extract bench clean browser

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(VENV)/bin/pybabel compile --domain messages --input-file $< --output-file $@

catalogs: $(MO)

run: $(STAMP) catalogs
	@if [ -n "$$TELEGRAM_BOT_TOKEN" ]; then $(PY) -m bot run; else $(PY) -m bot demo; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/ruff format --check bot tests bench

format: $(STAMP)
	$(VENV)/bin/ruff check --fix bot tests bench
	$(VENV)/bin/ruff format bot tests bench

# The Mini App's browser tests drive Debian's chromium through Playwright (whose own browser
# download cannot work here). Installed when missing and we are root (~1 min); otherwise those
# tests are skipped and say why.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } || \
		echo "could not install chromium: the browser tests will be skipped"; \
	fi

test: $(STAMP) catalogs lint browser
	@# Byte-compiled once: the tests start the bot in ~40 subprocesses (PYTHONDONTWRITEBYTECODE
	@# would have each compile every module again).
	$(PY) -m compileall -q bot bench
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# Re-extract the messages after changing UI text, then translate the new entries in ru and uz.
extract: $(STAMP)
	$(VENV)/bin/pybabel extract --mapping-file babel.cfg $(BABEL_KEYWORDS) --no-location \
		--sort-output --project mobility-bot --output-file locales/messages.pot bot
	$(VENV)/bin/pybabel update --domain messages --input-file locales/messages.pot \
		--output-dir locales --no-fuzzy-matching --ignore-obsolete

bench: $(STAMP) catalogs
	$(PY) -m bench

clean:
	rm -rf $(VENV) locales/*/LC_MESSAGES/*.mo .pytest_cache
