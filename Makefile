# The two commands of the README: `make run` and `make test`. Both set up everything they need
# (.venv from requirements, Azurite from package-lock.json) and are safe to run again.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071
TIME_SCALE ?= 1
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup run test test-shifted typecheck bench infra-check clean

setup: $(STAMP) $(NODE_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup  # TIME_SCALE=60 make run: a 60x clock on a store of its own (see python -m devhost.local --help)
	$(PY) -m devhost.local --port $(PORT) --time-scale $(TIME_SCALE)

test: setup typecheck
	$(PY) -m pytest -q -p no:cacheprovider

# The pure core is type-checked strictly, the rest of the tree with mypy's default settings
# (mypy.ini: the modules still waiting for their annotations).
typecheck: setup
	$(PY) -m mypy --strict --no-error-summary shared/domain shared/ports
	$(PY) -m mypy --no-error-summary shared functions devhost incidentctl

# The suite again on two shifted wall clocks (tests/conftest.py --shift-clock): a month end that
# rolls into March in a non-leap year, and just before the EU summer-time change (01:00 UTC).
test-shifted: setup
	status=0; for at in 2027-02-28T23:58:00Z 2027-03-28T00:58:00Z; do \
	  $(PY) -m pytest -q -p no:cacheprovider --shift-clock=$$at || status=1; \
	done; exit $$status

bench: setup
	$(PY) -m bench

infra-check: setup
	$(PY) infra/check_infra.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache
