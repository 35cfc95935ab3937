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

demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty
	$(PY) -m demo_project.run --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The suite on SQLite + local memory, then on PostgreSQL + Redis when configured.
pytest: $(STAMP)
	@echo "=== pytest: SQLite + local-memory cache ==="
	env -u PERFKIT_TEST_DATABASE_URL -u PERFKIT_TEST_REDIS_URL $(PY) -m pytest -p no:cacheprovider --cov --cov-report=term $(PYTEST_ARGS)
	@if [ -n "$$PERFKIT_TEST_DATABASE_URL" ] && [ -n "$$PERFKIT_TEST_REDIS_URL" ]; then \
		echo "=== pytest: PostgreSQL ($$PERFKIT_TEST_DATABASE_URL) + Redis ($$PERFKIT_TEST_REDIS_URL) ==="; \
		$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); \
	else \
		echo "=== PostgreSQL + Redis pass skipped: PERFKIT_TEST_DATABASE_URL / PERFKIT_TEST_REDIS_URL not set ==="; \
	fi

test: lint typecheck pytest

wheel: $(STAMP)
	rm -rf dist
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build var .pytest_cache .mypy_cache .ruff_cache
