# Vetrina: `make run` starts everything, `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RASA_VERSION := 3.6.21
RASA := .venv-rasa/bin/rasa
PY := .venv/bin/python
RASA_DATA := --config config.yml --domain bot/domain --data nlu_data bot/data
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help setup run run-prod nginx test validate test-stories pytest train migrate demo bench clean lint test-clients

help:
	@echo "make run    install what is missing, train if needed, start Rasa + actions + gateway"
	@echo "            (each restarted if it dies; Ctrl-C stops all)"
	@echo "make run-prod  the production topology: nginx + supervisord, 2 of each (DEMO=1: demo data)"
	@echo "make test   the same set-up, then rasa data validate, rasa test and pytest"
	@echo "make bench  run the benchmarks under bench/"

setup: .venv/.installed .venv-rasa/.installed

# The project (gateway, action server, tests): SQLAlchemy 2, aiohttp, rasa-sdk.
.venv/.installed: pyproject.toml constraints/project.txt
	@PY310=$$(scripts/find-python310.sh) && { [ -x .venv/bin/python ] || $$PY310 -m venv .venv; }
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -c constraints/project.txt -e '.[dev]'
	@touch $@

# Rasa in its own environment: it pins SQLAlchemy 1.4 and Sanic 21.
.venv-rasa/.installed: constraints/rasa.txt
	@PY310=$$(scripts/find-python310.sh) && { [ -x .venv-rasa/bin/python ] || $$PY310 -m venv .venv-rasa; }
	.venv-rasa/bin/pip install -q --upgrade pip
	.venv-rasa/bin/pip install -q -c constraints/rasa.txt rasa==$(RASA_VERSION)
	@touch $@

train: setup
	@$(PY) -m scripts.train

migrate: .venv/.installed
	@.venv/bin/vetrina migrate

# The demo retailer (products, stores, stock); idempotent, so every `make run` may load it.
demo: migrate
	@.venv/bin/vetrina demo

run: setup train migrate demo
	@$(PY) -m scripts.stack run

# The production topology on this machine: PostgreSQL + Redis (local servers, see
# scripts/prod.py), 2 Rasa, 2 action servers, 2 gateways, nginx on VETRINA_PORT, all run
# by supervisord; VETRINA_ENV=production. `make run-prod DEMO=1` loads the demo retailer.
run-prod: setup train nginx
	@$(PY) -m scripts.prod run $(if $(DEMO),--demo)

# Debian's nginx, the reverse proxy of run-prod: installed with apt-get when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "--- installing nginx (apt-get)"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx; }

# rasa data validate --fail-on-warnings, without Rasa's "not used in any story" warning for
# the responses that custom actions send (scripts/validate.py says why).
validate: .venv-rasa/.installed
	$(PY) -m scripts.validate

test-stories: train
	$(PY) -m scripts.stack test-stories

# Third-party clients the tests drive (rasa-webchat in Chromium, socket.io-client in Node,
# axe-core for the accessibility checks), pinned by tests/clients/package-lock.json.
test-clients: tests/clients/node_modules/.installed

tests/clients/node_modules/.installed: tests/clients/package.json tests/clients/package-lock.json
	cd tests/clients && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

pytest: setup train test-clients
	$(PY) -m pytest

test: setup train validate test-stories pytest

bench: setup train
	$(PY) bench/latency.py

lint: .venv/.installed
	.venv/bin/ruff check vetrina channels integrations actions scripts tests bench

clean:
	rm -rf var/log var/rasa-test-results .pytest_cache
