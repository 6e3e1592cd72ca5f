# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Each builds .venv from the hashed lock file with nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint fmt typecheck migrate lock bench container-test clean

$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/service init-db
	$(BIN)/service run

test: lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(STAMP)
	$(BIN)/service init-db

# Figures, not pass/fail: import throughput and event-loop latency under hashing load.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.import_users
	$(BIN)/python -m benchmarks.health_under_login
	$(BIN)/python -m benchmarks.limiter_keys

container-test:
	bash scripts/container-test.sh

# Re-pin every dependency (needs network): runtime lock for the image, dev lock for make.
lock:
	$(PYTHON) -m venv /tmp/uv-lock && /tmp/uv-lock/bin/pip install --quiet uv
	/tmp/uv-lock/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	/tmp/uv-lock/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache var
