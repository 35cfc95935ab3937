"""Export job counts for perfkit's Prometheus endpoint."""

from __future__ import annotations

from django.db.models import Count

from perfkit.conf import perfkit_settings
from perfkit.exports.models import ExportJob

NAME = "perfkit_export_jobs"


def job_counts() -> list[str]:
    """A gauge of export jobs per status (one grouped query)."""
    counts = dict.fromkeys(ExportJob.Status.values, 0)
    rows = (
        ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for status, count in rows:
        counts[status] = count
    lines = [f"# HELP {NAME} Export jobs by status.", f"# TYPE {NAME} gauge"]
    lines += [f'{NAME}{{status="{status}"}} {count}' for status, count in sorted(counts.items())]
    return lines
