"""The Django project ``middleware_overhead.py`` serves: one settings module, five setups.

``PERFKIT_BENCH_CONFIG`` picks the setup (see :data:`settings.CONFIGS`); the
project is also the app holding the benchmark's models, views and template.
"""
