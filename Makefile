# Cloudseat: `make run` serves the app on the embedded PostgreSQL with demo data; `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint unit browser bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Cloudseat needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cloudseat serve

# Debian's chromium for the browser tests; installed when missing and we may (root). Without it the
# browser tests are skipped with a reason, never silently passed.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing and cannot be installed here: browser tests will be skipped"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations piccolo_conf.py
	$(BIN)/mypy

test: $(STAMP) browser lint
	$(BIN)/pytest

# figures with their baselines, measured in the same run (a script, not a test)
bench: $(STAMP)
	$(BIN)/python -m app.bench

unit: $(STAMP)
	$(BIN)/pytest -m unit

clean:
	rm -rf $(VENV) var .pytest_cache test-artifacts
