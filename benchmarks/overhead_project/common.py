"""Constants shared by the settings and the parent process (which never loads settings)."""

from __future__ import annotations

# The configurations compared, bare (no tool) first.
CONFIGS = ("bare", "perfkit-redis", "perfkit-db", "silk", "prometheus")

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_DATABASE = "perfkit_bench"
REDIS_URL = "redis://127.0.0.1:6379/9"
REDIS_PREFIX = "perfkit-bench"
