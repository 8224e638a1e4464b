# Financing Desk: `make run` serves the product, `make test` runs the suite. Both set
# themselves up on a bare machine (a .venv, the embedded PostgreSQL under var/).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-browser bench lint format migrations-check check-deploy install clean-var

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m financing.run

test: $(STAMP)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Seeds a synthetic book (BENCH_LOANS, default 100000) in a separate database and prints the
# figures of quality.md against their targets; JSON under var/bench/.
bench: $(STAMP)
	DEBUG=true $(PY) manage.py bench --loans $${BENCH_LOANS:-100000}

test-browser: $(STAMP)
	$(PY) -m pytest -m browser -p no:xdist $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=$(CURDIR) $(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(STAMP)
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

check-deploy: $(STAMP)
	DEBUG=false SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	  ALLOWED_HOSTS=financing.example.com $(PY) manage.py check --deploy --fail-level WARNING

clean-var:
	rm -rf var/
