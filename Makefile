# WispCloud — developer entry points. `make run` and `make test` create the virtualenv they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# `make run` installs only what running needs (requirements.txt); the test tool chain comes with `make test`.
RUN_STAMP := $(VENV)/.run-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
export PYTHONPATH := functions:.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= us-east-1
export POWERTOOLS_TRACE_DISABLED ?= 1

.PHONY: venv venv-run lint format test test-fast run reset router-state bench template cfn-lint deploy clean \
	web web-e2e screenshots

$(RUN_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.run-* && touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv-run: $(RUN_STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check functions radius_container infra tests bench
	$(VENV)/bin/ruff format --check functions radius_container infra tests bench
	$(VENV)/bin/mypy functions radius_container infra bench
	$(VENV)/bin/hadolint radius_container/Dockerfile
	$(PY) -m infra.lint.layers

format: venv
	$(VENV)/bin/ruff format functions radius_container infra tests bench
	$(VENV)/bin/ruff check --fix functions radius_container infra tests bench

# The browser tests run after the rest, alone: Chromium beside the UDP/TCP timing tests would slow them.
test: venv lint web
	$(PY) -m pytest -n 2 --dist loadfile --ignore=tests/e2e/test_web.py
	$(PY) -m pytest tests/e2e/test_web.py -p no:xdist -q

test-fast: venv
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow and not e2e"

run: venv-run web
	$(PY) -m infra.local_stack

reset: venv-run
	$(PY) -m infra.local_stack --reset

router-state: venv-run
	$(PY) -m infra.local.router show

# The web console and subscriber pages (web/): npm packages from the registry, a typed client generated
# from the API's OpenAPI description (a page using a path or field the API lacks does not compile).
WEB_SRC := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f -not -name schema.d.ts 2>/dev/null)
API_SRC := $(shell find functions/api -name '*.py' 2>/dev/null)

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/openapi.json: $(API_SRC) | $(RUN_STAMP)
	$(PY) -m infra.local_web web/openapi.json

web/src/api/schema.d.ts: web/openapi.json web/node_modules/.package-lock.json
	cd web && npx openapi-typescript ./openapi.json -o src/api/schema.d.ts --default-non-nullable false >/dev/null

web/dist/index.html: web/src/api/schema.d.ts $(WEB_SRC)
	cd web && npx tsc -b && npx vite build --logLevel warn

web: venv-run web/dist/index.html

# Browser tests of the console and subscriber pages against `make run`'s stack (Debian chromium).
web-e2e: venv web
	$(PY) -m pytest tests/e2e/test_web.py -p no:xdist -q

# README screenshots (docs/screenshots/) at desktop and phone widths, from the same browser run.
screenshots: venv web
	WISP_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/e2e/test_web.py -p no:xdist -q

bench: venv web
	@for b in bench/*/run.py; do mod=$${b%.py}; mod=$${mod//\//.}; echo "# $$mod" >&2; $(PY) -m $$mod || exit 1; done
	@echo "# bench.radius.cpu" >&2; $(PY) -m bench.radius.cpu

template: venv
	$(PY) -m infra.package
	$(PY) -m infra.route_table
	$(PY) -m infra.template
	$(PY) -m infra.api_index

# Deploy to the AWS account of the current credentials (README: Deploying to AWS).
#   make deploy STACK=wispcloud REGION=eu-west-1 PARAMS="EmailSender=billing@example.com AlarmEmail=ops@example.com"
STACK ?= wispcloud
deploy: venv
	$(PY) -m infra.deploy --stack $(STACK) $(if $(REGION),--region $(REGION)) $(if $(IMAGE_TAG),--image-tag $(IMAGE_TAG)) $(PARAMS)

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml

clean:
	rm -rf $(VENV) .local .mypy_cache .ruff_cache .pytest_cache build .aws-sam
