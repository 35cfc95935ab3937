"""The proxy the "Cache hit rates" admin page hangs on (data lives in core's rollups)."""

from __future__ import annotations

from perfkit.models import Rollup


class CacheStats(Rollup):
    """Proxy of core's rollups: the admin's "Cache hit rates" page and permission."""

    class Meta:
        proxy = True
        verbose_name = "cache hit rate"
        verbose_name_plural = "cache hit rates"
