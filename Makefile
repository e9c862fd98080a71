# Dev commands of the template repository. `make help` lists them.
include config.env
export

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REPO_CODE := hooks tests benchmarks local_extensions.py

.DEFAULT_GOAL := help
.PHONY: help demo test lint format bench clean

help: ## List the targets
	@python3 "{{cookiecutter.project_slug}}/amlops/makehelp.py" Makefile

# uv installs requirements-dev.txt in a fraction of pip's time and CPU. It reads no
# pip.conf: where it cannot install (a private index only pip knows), pip does.
$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	UV_SYSTEM_CERTS=1 UV_NATIVE_TLS=1 $(VENV)/bin/uv pip install --quiet --python $(PY) \
		-r requirements-dev.txt || $(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

DEMO_PROJECT = $(DEMO_DIR)/azure-ml-project
# A variable set on the command line (make demo RUNTIME=venv) reaches the demo's own make
# targets, and so amlops, where it overrides the demo's config.env.
DEMO_MAKE = $(MAKE) -C "$(DEMO_PROJECT)" PYTHON="$(abspath $(PY))"

demo: $(STAMP) ## Bake a project with default answers into DEMO_DIR; run its sample experiment and pipeline locally ([DEMO_DIR=build/demo] [DEMO_BASE_IMAGE=image] [DEMO_DOCKER_BUILD_ARGS="--network host"] [RUNTIME=auto|docker|venv: venv runs the demo in a Python venv even where Docker works])
	rm -rf "$(DEMO_DIR)"
	mkdir -p "$(DEMO_DIR)"
	$(VENV)/bin/cookiecutter . --no-input --output-dir "$(DEMO_DIR)"
	@# DEMO_BASE_IMAGE / DEMO_DOCKER_BUILD_ARGS go into the demo's config.env, so make
	@# targets run inside the demo project later use them too.
	sed -i.orig -e 's|^BASE_IMAGE=.*|BASE_IMAGE=$(DEMO_BASE_IMAGE)|' \
		-e 's|^DOCKER_BUILD_ARGS=.*|DOCKER_BUILD_ARGS=$(DEMO_DOCKER_BUILD_ARGS)|' \
		"$(DEMO_PROJECT)/config.env" && rm -f "$(DEMO_PROJECT)/config.env.orig"
	$(DEMO_MAKE) local EXP=train
	$(DEMO_MAKE) pipeline-local

test: $(STAMP) ## Run the whole test suite on TEST_WORKERS processes (bakes projects, real Docker when an engine runs)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP) ## Check the repo's code and a freshly baked project (black, isort, flake8) and amlops's layers (import-linter)
	$(PY) -m black --check --quiet $(REPO_CODE)
	$(PY) -m isort --check-only --quiet $(REPO_CODE)
	$(PY) -m flake8 $(REPO_CODE) "{{cookiecutter.project_slug}}/amlops" "{{cookiecutter.project_slug}}/src"
	PYTHONPATH="{{cookiecutter.project_slug}}" $(VENV)/bin/lint-imports --no-cache --no-logo .importlinter
	$(PY) tests/support/lint_baked.py

format: $(STAMP) ## Format the repo's code, and the template's Python through a baked copy
	$(PY) -m isort --quiet $(REPO_CODE)
	$(PY) -m black --quiet $(REPO_CODE)
	$(PY) tests/support/lint_baked.py --fix

BENCHMARKS := local_overhead bake_time parallel_local pipeline_local submit_snapshot venv_cold \
	docker_rebuild big_input tracking_store dag100 demo_disk sweep_local serve validate

bench: $(STAMP) ## Run the benchmarks and print their figures (BENCH_QUICK=1: tiny sizes, one round)
	set -e; for name in $(BENCHMARKS); do echo "== benchmarks/$$name.py"; \
		$(PY) benchmarks/$$name.py; done

clean: ## Remove the venv, demo and caches
	rm -rf $(VENV) build .pytest_cache
