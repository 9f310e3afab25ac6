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

.PHONY: venv venv-run lint format test test-fast run reset router-state bench template cfn-lint deploy clean

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

format: venv
	$(VENV)/bin/ruff format functions radius_container infra tests bench
	$(VENV)/bin/ruff check --fix functions radius_container infra tests bench

test: venv lint
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: venv
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow and not e2e"

run: venv-run
	$(PY) -m infra.local_stack

reset: venv-run
	$(PY) -m infra.local_stack --reset

router-state: venv-run
	$(PY) -m infra.local.router show

bench: venv
	@for b in bench/*/run.py; do mod=$${b%.py}; mod=$${mod//\//.}; echo "# $$mod" >&2; $(PY) -m $$mod || exit 1; done

template: venv
	$(PY) -m infra.package
	$(PY) -m infra.route_table
	$(PY) -m infra.template_gen
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
