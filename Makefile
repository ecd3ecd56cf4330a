# The two commands: `make run` starts the product on embedded defaults, `make test` runs lint
# and the whole suite. Everything else is a helper they share.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: run test install install-dev migrate worker lint format e2e bench check-deploy schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/local.txt requirements/base.txt $(VENV)/.base-installed
	$(BIN)/pip install --quiet -r requirements/local.txt
	touch $@

install: $(VENV)/.base-installed

install-dev: $(VENV)/.dev-installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py create_default_admin
	@echo "Serving on http://$(HOST):$(PORT)/ (admin: /admin/, API: /api/v1/, docs: /api/docs/)"
	$(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	@if [ -x /usr/bin/chromium ]; then \
		echo "make test: /usr/bin/chromium found: the end-to-end browser tests (tests/e2e) run too"; \
	else \
		echo "make test: SKIPPING the end-to-end browser tests (tests/e2e): /usr/bin/chromium is not installed (apt-get install chromium)"; \
	fi
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/pytest

# The browser tests alone (headless Chromium against a live Daphne); screenshots in var/e2e/.
e2e: install-dev
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/pytest -m e2e -rs

schema: install-dev
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

check-deploy: install
	DJANGO_SETTINGS_MODULE=config.settings.production \
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-ci-dummy-secret-key-7d2f9a1c4e8b6d3f0a5c7e9b1d3f5a7c9e1b3d5f} \
	DJANGO_ALLOWED_HOSTS=$${DJANGO_ALLOWED_HOSTS:-example.com} \
	QDRANT_URL=$${QDRANT_URL:-http://127.0.0.1:6333} \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

bench: install-dev
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/pytest -s tests/performance/bench_*.py

clean:
	rm -rf $(VENV) var
