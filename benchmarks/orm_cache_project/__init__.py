"""The Django project ``orm_cache.py`` measures: one settings module, one setup per tool.

``ORM_CACHE_BENCH_TOOL`` picks the setup (see :data:`common.TOOLS`); the
project is also the app holding the benchmark's models.
"""
