"""Trap 7 of issue 14: perfkit's checks are silent about what a project does not use.

A third-party project saw perfkit warnings about ``health/`` and exports on
every management command, neither of which it used. Each project here is a
fresh process with ``DEBUG`` off and Django's default local-memory cache, as
``startproject`` leaves it once deployed; only what it installs is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.projects import (
    HEALTH_URLS,
    IMPORT_CELERY_APP,
    PERF_MIDDLEWARE,
    SHARED_CACHE,
    Project,
    exports_settings,
)

MIDDLEWARE = [PERF_MIDDLEWARE, *Project(apps=[]).middleware]


@pytest.mark.parametrize(
    "apps",
    [
        ["perfkit"],
        ["perfkit", "perfkit.metrics"],
    ],
    ids="+".join,
)
def test_a_project_without_health_or_exports_hears_nothing(tmp_path: Path, apps: list[str]) -> None:
    middleware = MIDDLEWARE if "perfkit.metrics" in apps else Project(apps=[]).middleware
    run = Project(apps=apps, middleware=middleware).check(tmp_path)
    assert run.returncode == 0, run.output
    assert run.perfkit_ids == [], run.output


def test_the_query_cache_on_a_shared_cache_hears_nothing(tmp_path: Path) -> None:
    project = Project(
        apps=["perfkit", "perfkit.metrics", "perfkit.cache"],
        middleware=MIDDLEWARE,
        settings=SHARED_CACHE,
    )
    run = project.check(tmp_path)
    assert run.returncode == 0, run.output
    assert run.perfkit_ids == [], run.output


def test_everything_installed_and_configured_hears_nothing(tmp_path: Path) -> None:
    project = Project(
        apps=["perfkit", "perfkit.metrics", "perfkit.cache", "perfkit.exports"],
        middleware=MIDDLEWARE,
        urls=[*Project(apps=[]).urls, HEALTH_URLS],
        settings=SHARED_CACHE + exports_settings(tmp_path),
        package_init=IMPORT_CELERY_APP,
    )
    run = project.check(tmp_path)
    assert run.returncode == 0, run.output
    assert run.perfkit_ids == [], run.output


@pytest.mark.parametrize(
    ("what", "uses"),
    [("health/", "health"), ("exports", "exports"), ("health/, exports", "both")],
)
def test_rate_limits_in_a_local_cache_warn_only_where_they_are_used(
    tmp_path: Path, what: str, uses: str
) -> None:
    """perfkit.W003 names the rate-limited features the project really has."""
    apps = ["perfkit", "perfkit.metrics"]
    urls = list(Project(apps=[]).urls)
    settings = ""
    package_init = ""
    if uses in ("health", "both"):
        urls.append(HEALTH_URLS)
    if uses in ("exports", "both"):
        apps.append("perfkit.exports")
        settings = exports_settings(tmp_path)
        package_init = IMPORT_CELERY_APP
    project = Project(
        apps=apps, middleware=MIDDLEWARE, urls=urls, settings=settings, package_init=package_init
    )
    run = project.check(tmp_path)
    assert run.perfkit_ids == ["perfkit.W003"], run.output
    assert f"rate limits ({what})" in run.output


def test_the_health_view_routed_on_its_own_counts_as_used(tmp_path: Path) -> None:
    project = Project(
        apps=["perfkit"],
        urls=[
            *Project(apps=[]).urls,
            'path("ready/", __import__("perfkit.operations.views").operations.views.health_view)',
        ],
    )
    run = project.check(tmp_path)
    assert run.perfkit_ids == ["perfkit.W003"], run.output
