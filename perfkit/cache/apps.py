from __future__ import annotations

from django.core import checks

from perfkit.cache import checks as cache_checks
from perfkit.installed import SubAppConfig


class CacheConfig(SubAppConfig):
    name = "perfkit.cache"
    label = "perfkit_cache"
    verbose_name = "perfkit cache"
    default = True

    def ready(self) -> None:
        from perfkit import observe, writes
        from perfkit.cache import receivers
        from perfkit.signals import tables_changed

        checks.register(cache_checks.check_cache, "perfkit")
        observe.add_statement_listener("perfkit.writes", writes.note_statement)
        tables_changed.connect(
            receivers.invalidate_tables, dispatch_uid="perfkit.cache.invalidate_tables"
        )
