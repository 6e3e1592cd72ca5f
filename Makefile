# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Each builds .venv from the hashed lock file with nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test test-fast lint fmt typecheck migrate lock bench client container-test clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP) ## serve on http://127.0.0.1:8000 (embedded SQLite unless DATABASE_URL is set)
	$(BIN)/service init-db
	$(BIN)/service run

test: lint typecheck ## ruff, mypy, then every test on SQLite and on PostgreSQL + Redis
	$(BIN)/pytest

test-fast: $(STAMP) ## the tests on the embedded backend only, no lint (quick feedback)
	$(BIN)/pytest -q -k "not postgres"

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

fmt: $(STAMP) ## format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(STAMP) ## bring the database to the newest migration
	$(BIN)/service init-db

bench: $(STAMP) ## print figures: import speed, latency under login load, limiter keys
	$(BIN)/python -m benchmarks.import_users
	$(BIN)/python -m benchmarks.health_under_login
	$(BIN)/python -m benchmarks.limiter_keys

# The generator's own ruff hooks format the client: .venv/bin goes first on PATH for them.
client: $(STAMP) ## generate a typed Python client (openapi-python-client) into a temporary folder
	@out=$$(mktemp -d) && \
	$(BIN)/service schema > $$out/openapi.json && \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate --fail-on-warning \
		--path $$out/openapi.json --meta setup --output-path $$out/service-client && \
	echo "client: $$out/service-client (pip install it; import quart_service_api_client)"

container-test: ## build the image and run the compose stack with podman
	bash scripts/container-test.sh

lock: ## re-pin every dependency (needs the package index)
	$(PYTHON) -m venv /tmp/uv-lock && /tmp/uv-lock/bin/pip install --quiet uv
	/tmp/uv-lock/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	/tmp/uv-lock/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

clean: ## remove the virtual environment, caches and the embedded database
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache var
