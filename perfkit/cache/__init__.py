"""Cached querysets and functions with table-version invalidation.

Public API (importable once Django's apps are loaded)::

    from perfkit.cache.querysets import CachedQuerySet, CachedManager
    from perfkit.cache.decorators import cached_function
    from perfkit.cache.api import invalidate, clear, request_stats
"""
