"""Constants shared by the settings and the parent process (which never loads settings)."""

from __future__ import annotations

# One child process per tool, each with only that tool installed. "bare" has
# no ORM cache at all; it measures the plain query and the hand-written
# ``cache.get`` of the evaluated result.
TOOLS = ("bare", "perfkit", "cachalot", "cacheops")

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_DATABASE = "perfkit_bench_cache"
REDIS_URL = "redis://127.0.0.1:6379/8"

# Every tool stores its entries for this long (seconds): nothing expires
# during a run, so every miss measured is one a write caused.
TIMEOUT = 3600

# The data: every publisher has BOOKS // PUBLISHERS = 50 books.
AUTHORS = 100
PUBLISHERS = 20
BOOKS = 1000
