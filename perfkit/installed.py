"""Clear errors when a part of perfkit is used without the app it belongs to.

Django's own error for a model outside ``INSTALLED_APPS`` ("Model class
perfkit.models.Rollup doesn't declare an explicit app_label") names neither
the app to add nor the part that needed it. These run before it, during app
loading, when no system check can run yet.
"""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured

CORE = "perfkit"
SUB_APP_WITHOUT_CORE = (
    '"{name}" is in INSTALLED_APPS without "perfkit", the app it is built on. '
    'Add "perfkit" to INSTALLED_APPS, before "{name}" (see docs/getting-started.md).'
)
MODELS_WITHOUT_APPS = (
    'perfkit\'s models ({module}) were imported, but "perfkit" is not in INSTALLED_APPS: '
    'a part of perfkit is in use without its apps. Add "perfkit" to INSTALLED_APPS, with '
    "the app of the part you use: {parts} (see docs/getting-started.md)."
)
PARTS = (
    '"perfkit.metrics" for PerfMiddleware, "perfkit.exports" for ExportAdminMixin, '
    '"perfkit.cache" for CachedManager and cached_function'
)


def require_core(name: str) -> None:
    """For a sub-app's ``AppConfig.import_models``: ``"perfkit"`` is installed too."""
    if not apps.is_installed(CORE):
        raise ImproperlyConfigured(SUB_APP_WITHOUT_CORE.format(name=name))


def guard_models(module: str) -> None:
    """At the top of a perfkit models module: fail clearly if ``"perfkit"`` is missing.

    Before the app registry is ready Django's own ``AppRegistryNotReady`` says
    enough, so this only speaks once apps are loaded.
    """
    if apps.apps_ready and not apps.is_installed(CORE):
        raise ImproperlyConfigured(MODELS_WITHOUT_APPS.format(module=module, parts=PARTS))


class SubAppConfig(AppConfig):
    """Base of perfkit's sub-apps: they say so when ``"perfkit"`` is missing.

    ``default = False`` keeps Django from taking this base for the config of
    the apps.py modules that import it; each sub-app's own config sets
    ``default = True``.
    """

    default = False
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        require_core(self.name)  # before Django's obscure error for perfkit's models
        super().import_models()
