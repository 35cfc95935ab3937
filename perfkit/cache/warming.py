"""Cache warmers: functions that fill the cache ahead of traffic.

Register with ``@perfkit.cache.warming.warmer`` in a ``cache_warmers.py``
module of any installed app (they are discovered there), then run them with
``manage.py perfkit_warm_cache`` or the Celery task ``perfkit_cache.warm``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.utils.module_loading import autodiscover_modules

logger = logging.getLogger("perfkit.cache")

F = TypeVar("F", bound=Callable[[], Any])
_warmers: dict[str, Callable[[], Any]] = {}


def warmer(func: F | None = None, *, name: str | None = None) -> Any:
    """Register ``func`` (no arguments) as a cache warmer."""

    def register(target: F) -> F:
        _warmers[name or f"{target.__module__}.{target.__qualname__}"] = target
        return target

    return register(func) if func is not None else register


@dataclass
class WarmResult:
    name: str
    ok: bool
    seconds: float
    error: str = ""


def registered() -> list[str]:
    """Names of every registered warmer (after discovering ``cache_warmers`` modules)."""
    autodiscover_modules("cache_warmers")
    return sorted(_warmers)


def warm(names: Iterable[str] | None = None) -> list[WarmResult]:
    """Run the named warmers (all when ``names`` is None); one failing stops no other."""
    available = registered()
    chosen = list(names) if names is not None else available
    unknown = [n for n in chosen if n not in _warmers]
    if unknown:
        raise KeyError(f"Unknown cache warmer(s): {', '.join(unknown)}")
    results = []
    for name in chosen:
        started = time.perf_counter()
        try:
            _warmers[name]()
        except Exception as exc:
            logger.exception("Cache warmer %s failed", name)
            results.append(WarmResult(name, False, time.perf_counter() - started, str(exc)))
        else:
            results.append(WarmResult(name, True, time.perf_counter() - started))
    return results
