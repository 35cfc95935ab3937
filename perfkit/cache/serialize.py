"""How a cached value is turned into bytes and back.

Plain ``pickle``, except for model instances: Django's ``Model.__reduce__``
looks the class up in the app registry and checks the Django version for
every instance it loads, which is most of the cost of a hit on a list. Here
an instance is stored as its class (pickled once per entry, by reference) and
its ``__getstate__``; loading restores the state the way
``Model.__setstate__`` does. Entries are keyed by the Django version (see
:data:`perfkit.cache.versions.PREFIX`), so they are never loaded by another.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import django
from django.db.models import Model
from django.db.models.base import DJANGO_VERSION_PICKLE_KEY  # type: ignore[attr-defined]

_MODEL_SETSTATE = vars(Model)["__setstate__"]


def _rebuild(cls: type[Model], state: dict[str, Any]) -> Model:
    instance = cls.__new__(cls)
    setstate = getattr(cls, "__setstate__", None)
    if setstate is not _MODEL_SETSTATE:  # the model has its own: let it run
        setstate(instance, {**state, DJANGO_VERSION_PICKLE_KEY: django.__version__})  # type: ignore[misc]
        return instance
    for name, value in state.pop("_memoryview_attrs", ()):
        state[name] = memoryview(value)
    instance.__dict__.update(state)
    return instance


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Model) and type(obj).__reduce__ is Model.__reduce__:
            return _rebuild, (type(obj), obj.__getstate__())
        return NotImplemented


def dumps(value: Any) -> bytes:
    """The bytes of ``value``."""
    buffer = io.BytesIO()
    _Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """The value of bytes made by :func:`dumps`."""
    return pickle.loads(data)
