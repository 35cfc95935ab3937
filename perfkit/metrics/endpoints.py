"""What a request's endpoint is called: its route pattern, and its URL name beside it.

A request is recorded under the pattern of the URL it matched, as Django joins
it in ``ResolverMatch.route`` (``books/<int:pk>/``, a ``re_path``'s regex,
included patterns joined), ``/`` for the empty pattern. Under
``i18n_patterns`` the language prefix is left out, so one view is one
endpoint whatever the language (and a pattern translated with
``gettext_lazy`` is named in ``LANGUAGE_CODE``), unless
``METRICS_SPLIT_LANGUAGES`` keeps them apart.

URL names are not part of the key: the admin finds them by walking the
URLconf when it draws a page (:func:`url_names`), so recording costs nothing
more and a renamed URL shows its new name at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.urls import LocalePrefixPattern, ResolverMatch, URLResolver, get_resolver, get_urlconf
from django.utils import translation

from perfkit.conf import perfkit_settings

ROOT = "/"


def route_of(match: ResolverMatch) -> str:
    """The route pattern ``match`` resolved through, as endpoints show it."""
    route = match.route
    tried = match.tried
    # tried[-1] is the chain of patterns that matched, outermost first.
    if (
        tried
        and isinstance(tried[-1][0].pattern, LocalePrefixPattern)
        and not perfkit_settings.METRICS_SPLIT_LANGUAGES
    ):
        route = _without_language(tuple(tried[-1][1:]))
    return route or ROOT


_unprefixed: dict[tuple[Any, ...], str] = {}
MAX_REMEMBERED = 10_000


def _without_language(chain: tuple[Any, ...]) -> str:
    """The route of ``chain`` (the patterns under the language prefix), once per chain.

    The pattern objects are the same for every language, so the route is built
    once, in ``LANGUAGE_CODE`` (for patterns translated with ``gettext_lazy``).
    """
    route = _unprefixed.get(chain)
    if route is None:
        with translation.override(settings.LANGUAGE_CODE):
            route = ""
            for pattern in chain:
                route = join_routes(route, str(pattern.pattern))
        if len(_unprefixed) >= MAX_REMEMBERED:
            _unprefixed.clear()
        _unprefixed[chain] = route
    return route


def join_routes(outer: str, inner: str) -> str:
    """Django's join of two routes (``URLResolver._join_route``): no inner ``^``."""
    if not outer:
        return inner
    return outer + inner.removeprefix("^")


def url_names(urlconf: str | None = None) -> dict[str, str]:
    """``{route: "namespace:name"}`` of every named pattern, routes as endpoints show them.

    Where two patterns share a route, the first (the one Django resolves to) wins.
    """
    resolver = get_resolver(urlconf or get_urlconf())
    split = perfkit_settings.METRICS_SPLIT_LANGUAGES
    languages = [code for code, _ in settings.LANGUAGES] if split else [settings.LANGUAGE_CODE]
    found: dict[str, str] = {}
    for language in languages:
        with translation.override(language):
            _collect(resolver.url_patterns, "", (), not split, found)
    return {route or ROOT: name for route, name in found.items() if name}


def _collect(
    patterns: Sequence[Any],
    prefix: str,
    namespaces: tuple[str, ...],
    fold_language: bool,
    found: dict[str, str],
) -> None:
    for pattern in patterns:
        if fold_language and isinstance(pattern.pattern, LocalePrefixPattern):
            route = prefix
        else:
            route = join_routes(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            inner = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
            _collect(pattern.url_patterns, route, inner, fold_language, found)
        else:
            name = ":".join((*namespaces, pattern.name)) if pattern.name else ""
            found.setdefault(route, name)


def url_name_of(endpoint: str, names: dict[str, str]) -> str:
    """The URL name of a web endpoint (``"GET books/"``), or ``""``."""
    method, _, route = endpoint.partition(" ")
    if method in ("task", "command"):
        return ""
    return names.get(route, "")


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting in ("LANGUAGE_CODE", "ROOT_URLCONF"):
        _unprefixed.clear()


setting_changed.connect(_forget, dispatch_uid="perfkit.metrics.endpoints")
