"""System checks of perfkit.exports (ids ``perfkit_exports.*``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

from perfkit import celery_state
from perfkit.conf import perfkit_settings

E001_NO_STORAGE = "PERFKIT['EXPORTS_STORAGE'] names {alias!r}, which is not in STORAGES."
W001_NO_CELERY = (
    "perfkit.exports is installed but Celery is not configured "
    "(no CELERY_BROKER_URL, no broker on the project's Celery app)."
)
W002_PUBLIC_FILES = (
    "Export files go to {location}, inside MEDIA_ROOT: a web server serving MEDIA_URL "
    "would make them public."
)

E002_APP_MISSING = (
    'ExportAdminMixin is used by {admins}, but "perfkit.exports" is not in INSTALLED_APPS: '
    "their change lists fail with TemplateDoesNotExist and no export can run."
)

ALL_IDS = (
    "perfkit_exports.E001",
    "perfkit_exports.E002",
    "perfkit_exports.W001",
    "perfkit_exports.W002",
    "perfkit_exports.W003",
)


def check_exports(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Exports need Celery and a storage that is not served publicly."""
    messages: list[checks.CheckMessage] = []
    alias = perfkit_settings.EXPORTS_STORAGE
    storages = getattr(settings, "STORAGES", {}) or {}
    if alias not in storages:
        messages.append(
            checks.Error(
                E001_NO_STORAGE.format(alias=alias),
                hint="Add a FileSystemStorage outside MEDIA_ROOT to STORAGES under that alias.",
                id="perfkit_exports.E001",
            )
        )
    else:
        location = storages[alias].get("OPTIONS", {}).get("location")
        media = getattr(settings, "MEDIA_ROOT", "")
        if location is None and alias == "default":
            location = media
        if location and media and Path(location).resolve().is_relative_to(Path(media).resolve()):
            messages.append(
                checks.Warning(
                    W002_PUBLIC_FILES.format(location=location),
                    hint="Give EXPORTS_STORAGE its own location outside MEDIA_ROOT.",
                    id="perfkit_exports.W002",
                )
            )
    try:
        import celery  # noqa: F401
    except ImportError:
        celery_ok = False
    else:
        celery_ok = bool(getattr(settings, "CELERY_BROKER_URL", None) or celery_state.broker_url())
    if not celery_ok:
        messages.append(
            checks.Warning(
                W001_NO_CELERY,
                hint="Install perfkit[celery], run a worker and set CELERY_BROKER_URL "
                "(or your app's broker_url).",
                id="perfkit_exports.W001",
            )
        )
    return messages


def check_default_celery_app(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Export jobs are not sent through Celery's unconfigured default app.

    Without ``from .celery import app as celery_app`` in the project's package,
    ``celery.current_app`` is an app Celery makes up, sending to amqp://localhost.
    """
    if not celery_state.sends_through_default_app():
        return []
    return [checks.Warning(celery_state.PROBLEM, hint=celery_state.HINT, id="perfkit_exports.W003")]


def check_export_admins(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """ModelAdmins using ExportAdminMixin need perfkit.exports (registered by core).

    Looks at every admin site's registry, which is complete when checks run
    (admin autodiscovery happens in ``ready()``). A project that never imported
    the mixin's module uses no mixin, and it is not imported here.
    """
    if apps.is_installed("perfkit.exports"):
        return []
    module = sys.modules.get("perfkit.exports.admin")
    if module is None:
        return []
    from django.contrib.admin.sites import all_sites

    mixin = module.ExportAdminMixin
    admins = sorted(
        {
            f"{type(model_admin).__module__}.{type(model_admin).__qualname__}"
            for site in all_sites
            for model_admin in site._registry.values()
            if isinstance(model_admin, mixin)
        }
    )
    if not admins:
        return []
    return [
        checks.Error(
            E002_APP_MISSING.format(admins=", ".join(admins)),
            hint='Add "perfkit.exports" to INSTALLED_APPS and run migrate '
            "(exports also need Celery: see docs/exports.md).",
            id="perfkit_exports.E002",
        )
    ]
