"""Constants shared by the settings, the workers and the parent (which never loads settings)."""

from __future__ import annotations

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_DATABASE = "perfkit_bench_export"

# The small table the items' foreign key points to.
CATEGORIES = 20

# The exported columns, in file order: every column of the items table.
FIELDS = ("id", "category", "quantity", "name", "note", "price", "active", "created_at")

# The methods, in report order. ``raw-*`` are the limits perfkit is compared with.
METHODS = {
    "perfkit-copy": "perfkit write_export(csv), COPY path",
    "perfkit-iter": "perfkit write_export(csv), iterator path",
    "naive": "list(queryset) + csv.writer",
    "import-export": "django-import-export Resource.export(qs).csv",
    "raw-copy": "raw COPY of the plain columns",
    "raw-copy-perfkit": "raw COPY of perfkit's own SELECT",
}
