"""Trap 3 of issue 14: a perfkit part used without its app names the app to add.

Before: a sub-app without ``"perfkit"`` died in app loading with Django's
generic "Model class perfkit.models.Rollup doesn't declare an explicit
app_label"; ``ExportAdminMixin`` without ``perfkit.exports`` passed ``check``
and answered 500 (``TemplateDoesNotExist``). Each project here is a fresh
process: app loading and admin autodiscovery run for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.projects import PERF_MIDDLEWARE, Project

PLAIN_MIDDLEWARE = Project(apps=[]).middleware
GENERIC = "doesn't declare an explicit app_label"

SHOP_MODELS = """\
from django.db import models

{imports}

class Book(models.Model):
    title = models.CharField(max_length=100)
{manager}
"""
SHOP_ADMIN = """\
from django.contrib import admin

from perfkit.exports.admin import ExportAdminMixin
from shop.models import Book


@admin.register(Book)
class BookAdmin(ExportAdminMixin, admin.ModelAdmin):
    list_display = ("title",)
"""


def shop(*, admin: bool = False, cached: bool = False) -> dict[str, str]:
    """A user's app ``shop``: a model, optionally with a cached manager or an export admin."""
    models = SHOP_MODELS.format(
        imports="from perfkit.cache.querysets import CachedManager" if cached else "",
        manager="    objects = CachedManager()" if cached else "",
    )
    files = {"shop/__init__.py": "", "shop/models.py": models}
    if admin:
        files["shop/admin.py"] = SHOP_ADMIN
    return files


@pytest.mark.parametrize(
    "sub_app",
    [
        "perfkit.metrics",
        "perfkit.cache",
        "perfkit.exports",
        "perfkit.regressions",
        "perfkit.contrib.debug_toolbar",
    ],
)
def test_a_sub_app_without_perfkit_says_to_add_perfkit(tmp_path: Path, sub_app: str) -> None:
    run = Project(apps=[sub_app], middleware=PLAIN_MIDDLEWARE).check(tmp_path)
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.output and GENERIC not in run.output, run.output
    assert f'"{sub_app}" is in INSTALLED_APPS without "perfkit"' in run.output, run.output


def test_the_middleware_without_any_perfkit_app_says_to_add_them(tmp_path: Path) -> None:
    run = Project(apps=[], middleware=[PERF_MIDDLEWARE, *PLAIN_MIDDLEWARE]).check(tmp_path)
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.output and GENERIC not in run.output, run.output
    assert 'Add "perfkit"' in run.output and '"perfkit.metrics"' in run.output, run.output


def test_the_middleware_without_perfkit_metrics_is_an_error(tmp_path: Path) -> None:
    run = Project(apps=["perfkit"], middleware=[PERF_MIDDLEWARE, *PLAIN_MIDDLEWARE]).check(tmp_path)
    assert run.returncode != 0
    assert run.perfkit_ids == ["perfkit_metrics.E001"], run.output
    assert 'Add "perfkit.metrics" to INSTALLED_APPS' in run.output


def test_export_admins_without_perfkit_exports_are_an_error(tmp_path: Path) -> None:
    project = Project(
        apps=["perfkit", "shop"], middleware=PLAIN_MIDDLEWARE, modules=shop(admin=True)
    )
    run = project.check(tmp_path)
    assert run.returncode != 0
    assert run.perfkit_ids == ["perfkit_exports.E002"], run.output
    assert "shop.admin.BookAdmin" in run.output
    assert 'Add "perfkit.exports" to INSTALLED_APPS' in run.output


def test_export_admins_without_any_perfkit_app_say_to_add_them(tmp_path: Path) -> None:
    project = Project(apps=["shop"], middleware=PLAIN_MIDDLEWARE, modules=shop(admin=True))
    run = project.check(tmp_path)
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.output and GENERIC not in run.output, run.output
    assert 'Add "perfkit"' in run.output and '"perfkit.exports"' in run.output, run.output


def test_cached_managers_without_perfkit_cache_are_an_error(tmp_path: Path) -> None:
    project = Project(
        apps=["perfkit", "shop"], middleware=PLAIN_MIDDLEWARE, modules=shop(cached=True)
    )
    run = project.check(tmp_path)
    assert run.returncode != 0
    assert run.perfkit_ids == ["perfkit_cache.E002"], run.output
    assert 'Add "perfkit.cache" to INSTALLED_APPS' in run.output


def test_a_cached_function_without_perfkit_cache_raises_instead_of_serving_stale(
    tmp_path: Path,
) -> None:
    """Without perfkit.cache no write is tracked: like ``.cached()``, a call raises."""
    project = Project(apps=["perfkit", "shop"], middleware=PLAIN_MIDDLEWARE, modules=shop())
    run = project.run_python(
        tmp_path,
        """
        from perfkit.cache.decorators import cached_function
        from shop.models import Book

        @cached_function(depends_on=[Book])
        def count():
            return 1

        count()
        """,
    )
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.output, run.output
    assert 'needs "perfkit.cache" in INSTALLED_APPS' in run.output, run.output


def test_the_toolbar_panel_without_its_app_is_an_error(tmp_path: Path) -> None:
    """Without ``perfkit.contrib.debug_toolbar`` the panel's template does not exist."""
    project = Project(
        apps=["perfkit", "debug_toolbar"],
        middleware=[*PLAIN_MIDDLEWARE, "debug_toolbar.middleware.DebugToolbarMiddleware"],
        settings='DEBUG_TOOLBAR_PANELS = ["perfkit.contrib.debug_toolbar.panel.PerfkitPanel"]\n',
    )
    run = project.check(tmp_path)
    assert run.returncode != 0
    assert run.perfkit_ids == ["perfkit_debug_toolbar.E001"], run.output
    assert 'Add "perfkit.contrib.debug_toolbar" to INSTALLED_APPS' in run.output


def test_every_part_with_its_apps_passes(tmp_path: Path) -> None:
    project = Project(
        apps=[
            "perfkit",
            "perfkit.metrics",
            "perfkit.cache",
            "perfkit.exports",
            "perfkit.contrib.debug_toolbar",
            "debug_toolbar",
            "shop",
        ],
        middleware=[
            PERF_MIDDLEWARE,
            *PLAIN_MIDDLEWARE,
            "debug_toolbar.middleware.DebugToolbarMiddleware",
        ],
        settings='DEBUG_TOOLBAR_PANELS = ["perfkit.contrib.debug_toolbar.panel.PerfkitPanel"]\n',
        modules=shop(admin=True, cached=True),
        debug=True,
    )
    run = project.check(tmp_path)
    errors = [i for i in run.perfkit_ids if ".E" in i]
    assert errors == [], run.output
