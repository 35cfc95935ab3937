"""A slow sample's page: its repeated statements, their fixes, and EXPLAIN on demand.

EXPLAIN needs ``perfkit_metrics.explain_slowrequest`` on top of the view
permission, is a POST (ANALYZE behind a second confirmation), is rate limited
per user, and runs in the admin's request on its own connection, never in
the request that was recorded.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from perfkit import ratelimit
from perfkit.conf import perfkit_settings
from perfkit.metrics import explain
from perfkit.metrics.models import SlowRequest

EXPLAIN_PERMISSION = "perfkit_metrics.explain_slowrequest"


def may_explain(request: HttpRequest) -> bool:
    """Staff with the samples' view permission and the EXPLAIN permission."""
    opts = SlowRequest._meta
    view = f"{opts.app_label}.{get_permission_codename('view', opts)}"
    user = request.user
    return bool(user.is_staff and user.has_perm(view) and user.has_perm(EXPLAIN_PERMISSION))


def why_not_explainable(sql: str) -> str:
    """Why ``sql`` as stored cannot be explained, or "" when it can."""
    if len(sql) >= perfkit_settings.METRICS_SAMPLE_SQL_CHARS:
        return "the statement was cut to METRICS_SAMPLE_SQL_CHARS characters when stored"
    try:
        explain.check_statement(sql)
    except explain.ExplainRefused as refused:
        return str(refused)
    return ""


PARTS = ("repeated", "timeline")
"""Where a sample keeps statements: its repeated ones, and its waterfall's shapes."""


def stored_statements(sample: SlowRequest, part: str) -> list[dict[str, Any]]:
    """The statements ``sample`` keeps in ``part`` (anything malformed left out as {})."""
    if part == "repeated":
        found: Any = sample.repeated
    elif part == "timeline":
        found = sample.timeline.get("statements") if isinstance(sample.timeline, dict) else None
    else:
        return []
    if not isinstance(found, list):
        return []
    return [item if isinstance(item, dict) else {} for item in found]


def statement_rows(
    sample: SlowRequest, request: HttpRequest, site_name: str, part: str = "repeated"
) -> list[dict[str, Any]]:
    """The statements of ``part``, each with its EXPLAIN link where one is allowed."""
    allowed = may_explain(request)
    rows = []
    for index, item in enumerate(stored_statements(sample, part)):
        row = dict(item)
        row["number"] = index + 1
        row["explain_url"] = ""
        row["not_explainable"] = why_not_explainable(str(item.get("sql", "")))
        if allowed and not row["not_explainable"]:
            row["explain_url"] = reverse(
                f"{site_name}:perfkit_metrics_slowrequest_explain",
                args=[sample.pk, part, index],
            )
        rows.append(row)
    return rows


def cache_figures(sample: SlowRequest) -> dict[str, int] | None:
    """The request's perfkit.cache lookups, only where the app is installed and was used."""
    if not apps.is_installed("perfkit.cache") or not isinstance(sample.cache, dict):
        return None
    hits, misses = sample.cache.get("hits", 0), sample.cache.get("misses", 0)
    return {"hits": hits, "misses": misses} if hits or misses else None


def explain_view(
    request: HttpRequest, object_id: str, part: str, index: int, context: dict[str, Any]
) -> HttpResponse:
    """Show one stored statement; on POST, its plan (or why there is none)."""
    if not may_explain(request):
        raise PermissionDenied
    samples = SlowRequest.objects.using(perfkit_settings.DATABASE_ALIAS)
    sample = get_object_or_404(samples, pk=_pk(object_id))
    items = stored_statements(sample, part)
    if not 0 <= index < len(items) or not items[index].get("sql"):
        raise Http404("no such statement in this sample")
    item = items[index]
    sql = str(item.get("sql", ""))
    alias = str(item.get("alias") or "default")
    params = explain.parse_params(item.get("params"))
    page: dict[str, Any] = {
        **context,
        "title": "EXPLAIN a statement",
        "sample": sample,
        "sql": sql,
        "alias": alias,
        "has_params": params is not None,
        "not_explainable": why_not_explainable(sql),
        "refused": "",
        "plan": None,
        "analyze": False,
    }
    status = 200
    if page["not_explainable"]:
        page["refused"] = page["not_explainable"]
    elif request.method == "POST":
        analyze = request.POST.get("analyze") == "1"
        page["analyze"] = analyze
        if analyze and request.POST.get("confirm") != "yes":
            page["refused"] = "tick the box to confirm that EXPLAIN ANALYZE runs the statement"
            status = 400
        elif ratelimit.limited(
            request,
            group="perfkit-explain",
            key="user",
            rate=perfkit_settings.METRICS_EXPLAIN_RATE_LIMIT,
        ):
            page["refused"] = "too many EXPLAIN requests: wait a minute and try again"
            status = 429
        else:
            try:
                page["plan"] = explain.explain(alias, sql, params, analyze=analyze)
            except explain.ExplainRefused as refused:
                page["refused"] = str(refused)
    page["index_hints_url"] = _index_hints_url(context.get("site_name", "admin"), alias)
    return TemplateResponse(
        request, "admin/perfkit_metrics/slowrequest/explain.html", page, status=status
    )


def _pk(object_id: str) -> int:
    try:
        return int(object_id)
    except (TypeError, ValueError):
        raise Http404("no such sample") from None


def _index_hints_url(site_name: str, alias: str) -> str:
    try:
        url = reverse(f"{site_name}:perfkit_databaseinsights_changelist")
    except NoReverseMatch:
        return ""
    return f"{url}?{urlencode({'db': alias})}#perfkit-index-hints"
