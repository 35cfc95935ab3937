"""Export columns: an ORM path, its header label and the field its values come from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Field
from django.utils.text import capfirst

LOOKUP_SEP = "__"


@dataclass(frozen=True)
class Column:
    """One exported column.

    ``name`` is the path given to ``values_list()`` (``"title"``,
    ``"author__name"``); ``label`` is the header; ``field`` is the concrete
    field whose database column holds the value (for ``"author"``, the
    foreign key itself: its raw id is exported). ``formatted`` is true when
    the database already returns the column's cells as the format table's
    text (``perfkit.exports.sqlcells``), so writers pass them through.
    """

    name: str
    label: str
    field: Field[Any, Any]
    formatted: bool = False


def resolve_columns(
    model: type[models.Model],
    names: list[str],
    labels: Mapping[str, str] | None = None,
) -> list[Column]:
    """Resolve ``names`` on ``model``, following forward FK/one-to-one relations.

    Raises ``ValueError`` for unknown fields, reverse or many-to-many relations
    and fields without a database column. ``labels`` overrides the default
    headers (the capitalized verbose names, joined by " / " across relations).
    """
    labels = labels or {}
    return [_resolve(model, name, labels.get(name)) for name in names]


def _resolve(model: type[models.Model], name: str, label: str | None) -> Column:
    parts = name.split(LOOKUP_SEP)
    if not all(parts):
        raise ValueError(f"Invalid export column {name!r}: empty part in the path")
    opts = model._meta
    verbose: list[str] = []
    field: Field[Any, Any] | None = None
    for index, part in enumerate(parts):
        field = _get_field(opts, part, name)
        verbose.append(str(capfirst(field.verbose_name)))
        if index < len(parts) - 1:
            if not _is_forward_single(field):
                raise ValueError(
                    f"Invalid export column {name!r}: {part!r} on {opts.label} is not a "
                    "forward foreign key or one-to-one field, so it cannot be followed"
                )
            related = field.related_model
            assert related is not None and not isinstance(related, str)
            opts = related._meta
    assert field is not None
    if field.is_relation and not _is_forward_single(field):
        raise ValueError(
            f"Invalid export column {name!r}: {parts[-1]!r} on {opts.label} is a reverse "
            "or many-to-many relation; export one of its fields through a forward "
            "relation instead"
        )
    if not field.concrete or field.column is None:
        raise ValueError(
            f"Invalid export column {name!r}: {parts[-1]!r} on {opts.label} has no database column"
        )
    return Column(name=name, label=label if label is not None else " / ".join(verbose), field=field)


def permitted_fields(
    user: Any, model: type[models.Model], names: list[str]
) -> tuple[list[str], list[str]]:
    """Split ``names`` into the paths ``user`` may read and those left out.

    A path that follows a relation (``author__name``) reads the related
    model, so every model it goes through needs the user's view (or change)
    permission, as the admin asks for a model's own pages. A foreign key
    named by itself (``author``) is a value of ``model`` and needs nothing.
    Invalid paths are kept: ``resolve_columns`` reports them.
    """
    kept: list[str] = []
    dropped: list[str] = []
    for name in names:
        (kept if _may_follow(user, model, name) else dropped).append(name)
    return kept, dropped


def _may_follow(user: Any, model: type[models.Model], name: str) -> bool:
    opts = model._meta
    for part in name.split(LOOKUP_SEP)[:-1]:
        try:
            related = _get_field(opts, part, name).related_model
        except ValueError:
            return True
        if related is None or isinstance(related, str):
            return True
        opts = related._meta
        if not any(
            user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        ):
            return False
    return True


def _get_field(opts: Any, part: str, name: str) -> Field[Any, Any]:
    try:
        field = opts.pk if part == "pk" else opts.get_field(part)
    except FieldDoesNotExist:
        raise ValueError(
            f"Invalid export column {name!r}: {opts.label} has no field {part!r}"
        ) from None
    if not isinstance(field, Field):
        # A reverse relation (ForeignObjectRel) or a private field.
        raise ValueError(
            f"Invalid export column {name!r}: {part!r} on {opts.label} is a reverse "
            "relation or has no database column"
        )
    return field


def _is_forward_single(field: Field[Any, Any]) -> bool:
    return bool(field.concrete and (field.many_to_one or field.one_to_one))
