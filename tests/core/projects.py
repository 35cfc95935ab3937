"""Throwaway Django projects run in a subprocess: what ``manage.py check`` says about a setup.

Each project is a package ``proj`` in a temporary directory, with its own
settings, URLconf and (optionally) Celery app, so app loading, admin
autodiscovery and Celery's app state are exactly a fresh process's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
CELERY_MODULE = """\
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
app = Celery("proj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
"""
IMPORT_CELERY_APP = "from .celery import app as celery_app\n"
ADMIN_URLS = 'path("admin/", admin.site.urls)'
HEALTH_URLS = 'path("perfkit/", include("perfkit.urls"))'
CHECK_ID = re.compile(r"\(([a-z_]+\.[EWI]\d{3})\)")


@dataclass
class Project:
    """A project's files; :meth:`check` writes them and runs ``django check``."""

    apps: list[str]
    middleware: list[str] = field(
        default_factory=lambda: [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ]
    )
    urls: list[str] = field(default_factory=lambda: [ADMIN_URLS])
    settings: str = ""  # extra settings lines
    package_init: str = ""  # proj/__init__.py
    modules: dict[str, str] = field(default_factory=dict)  # extra files, by path under the dir
    debug: bool = False

    def write(self, directory: Path) -> None:
        package = directory / "proj"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(self.package_init)
        (package / "celery.py").write_text(CELERY_MODULE)
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(directory / "db.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
        templates = [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ]
        settings = f"""\
SECRET_KEY = "not-a-secret"
DEBUG = {self.debug!r}
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "proj.urls"
INSTALLED_APPS = {DJANGO_APPS + self.apps!r}
MIDDLEWARE = {self.middleware!r}
TEMPLATES = {templates!r}
DATABASES = {{"default": {database!r}}}
STATIC_URL = "static/"
MEDIA_ROOT = {str(directory / "media")!r}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""
        (package / "settings.py").write_text(settings + textwrap.dedent(self.settings))
        urls = ",\n    ".join(self.urls)
        (package / "urls.py").write_text(
            "from django.contrib import admin\n"
            "from django.urls import include, path\n\n"
            f"urlpatterns = [\n    {urls},\n]\n"
        )
        for name, text in self.modules.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))

    def check(self, directory: Path) -> CheckRun:
        """``django check`` in a fresh process."""
        return self.run(directory, ["-m", "django", "check"])

    def run_python(self, directory: Path, code: str) -> CheckRun:
        """``code`` after ``django.setup()`` in a fresh process."""
        setup = "import django\ndjango.setup()\n"
        return self.run(directory, ["-c", setup + textwrap.dedent(code)])

    def run(self, directory: Path, arguments: list[str]) -> CheckRun:
        self.write(directory)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PERFKIT_", "CELERY_", "DJANGO_"))
        }
        env["DJANGO_SETTINGS_MODULE"] = "proj.settings"
        env["PYTHONPATH"] = os.pathsep.join([str(directory), str(ROOT)])
        done = subprocess.run(
            [sys.executable, *arguments],
            check=False,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return CheckRun(done.returncode, done.stdout + done.stderr)


@dataclass
class CheckRun:
    returncode: int
    output: str

    @property
    def ids(self) -> list[str]:
        return CHECK_ID.findall(self.output)

    @property
    def perfkit_ids(self) -> list[str]:
        return [check_id for check_id in self.ids if check_id.startswith("perfkit")]


def exports_settings(directory: Path) -> str:
    """Settings perfkit.exports needs: a private storage and a broker (never contacted)."""
    return f"""
STORAGES = {{
    "default": {{"BACKEND": "django.core.files.storage.FileSystemStorage"}},
    "staticfiles": {{"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
    "exports": {{
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {{"location": {str(directory / "exports")!r}}},
    }},
}}
PERFKIT = {{"EXPORTS_STORAGE": "exports"}}
CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
"""


SHARED_CACHE = """
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                      "LOCATION": "cache_table"}}
"""
PERF_MIDDLEWARE = "perfkit.metrics.middleware.PerfMiddleware"
