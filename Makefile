# perfkit: `make demo` runs the demo shop, `make test` runs lint, types and tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: demo test lint typecheck pytest wheel clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# exec: the supervisor replaces the recipe's shell, so the SIGTERM make passes on reaches
# it; it also stops everything when make dies or handles SIGINT (demo_project/run.py).
demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty
	exec $(PY) -m demo_project.run --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The suite on SQLite + local memory, then on PostgreSQL + Redis when configured.
PG_REDIS_VARS := PERFKIT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test PERFKIT_TEST_REDIS_URL=redis://127.0.0.1:6379/15
pytest: $(STAMP)
	@if [ -z "$$PERFKIT_TEST_DATABASE_URL" ] || [ -z "$$PERFKIT_TEST_REDIS_URL" ]; then \
		echo "=== The PostgreSQL + Redis pass will be SKIPPED: PERFKIT_TEST_DATABASE_URL and PERFKIT_TEST_REDIS_URL are not both set."; \
		echo "=== To run it too:  $(PG_REDIS_VARS) make test"; \
	fi
	@echo "=== pytest: SQLite + local-memory cache ==="
	env -u PERFKIT_TEST_DATABASE_URL -u PERFKIT_TEST_REDIS_URL $(PY) -m pytest -p no:cacheprovider --cov --cov-report=term $(PYTEST_ARGS)
	@if [ -n "$$PERFKIT_TEST_DATABASE_URL" ] && [ -n "$$PERFKIT_TEST_REDIS_URL" ]; then \
		echo "=== pytest: PostgreSQL ($$PERFKIT_TEST_DATABASE_URL) + Redis ($$PERFKIT_TEST_REDIS_URL) ==="; \
		$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); \
	else \
		echo "=== PostgreSQL + Redis pass skipped: PERFKIT_TEST_DATABASE_URL / PERFKIT_TEST_REDIS_URL not set ==="; \
		echo "=== To run it:  $(PG_REDIS_VARS) make test"; \
	fi

test: lint typecheck pytest

wheel: $(STAMP)
	rm -rf dist
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build var .pytest_cache .mypy_cache .ruff_cache
