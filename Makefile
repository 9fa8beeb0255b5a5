# The two commands of the README's quick start, on a fresh Debian machine as root:
#   make demo   installs what is missing, then starts the whole system locally and prints where to click
#   make test   installs what is missing, then lint, format check, type check and the tests
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := python3.11 python3.11-venv redis-server postgresql chromium
# The suite is meant to finish in about ten minutes on two cores: two pytest workers share it (most tests wait
# on servers and child processes, so two workers keep both cores busy); --durations shows what to speed up.
PYTEST_OPTS ?= -q -n 2 --durations=15
# A throwaway cluster needs no durability; its log would only repeat the errors tests provoke on purpose.
PG_OPTS := -o fsync=off -o synchronous_commit=off -o full_page_writes=off -o log_min_messages=fatal

.PHONY: test demo lint fmt system-packages

system-packages:
	@missing=""; \
	for package in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${db:Status-Status}' "$$package" 2>/dev/null | grep -qx installed \
	    || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "Installing system packages:$$missing"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev,devorg]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# pg_virtualenv starts a throwaway PostgreSQL cluster for the run and exports PGHOST, PGPORT, PGUSER,
# PGPASSWORD and PGDATABASE, which the store tests use next to SQLite.
test: lint system-packages
	pg_virtualenv -t $(PG_OPTS) -- $(BIN)/pytest $(PYTEST_OPTS)

demo: $(STAMP) system-packages
	$(BIN)/renewals demo
