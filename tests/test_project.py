"""Project-wide invariants: migrations, check ids, apps."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command

import perfkit

PACKAGE = Path(perfkit.__file__).parent


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


def test_check_ids_are_unique_and_declared() -> None:
    """Every id used in a checks module is declared once in its ALL_IDS."""
    seen: dict[str, str] = {}
    for path in PACKAGE.rglob("checks.py"):
        text = path.read_text()
        used = set(re.findall(r'id="(perfkit[\w.]*\.[EWI]\d{3})"', text))
        declared = re.search(r"ALL_IDS = \(([^)]*)\)", text)
        assert declared, f"{path} declares no ALL_IDS"
        declared_ids = set(re.findall(r'"([^"]+)"', declared.group(1)))
        assert used == declared_ids, path
        for check_id in used:
            assert check_id not in seen, f"{check_id} in {path} and {seen[check_id]}"
            seen[check_id] = str(path)
    assert "perfkit.W001" in seen


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("perfkit", "perfkit"),
        ("perfkit.metrics", "perfkit_metrics"),
        ("perfkit.cache", "perfkit_cache"),
        ("perfkit.exports", "perfkit_exports"),
    ],
)
def test_apps_have_prefixed_labels_and_auto_field(name: str, label: str) -> None:
    config = apps.get_app_config(label)
    assert config.name == name
    assert config.default_auto_field == "django.db.models.BigAutoField"
