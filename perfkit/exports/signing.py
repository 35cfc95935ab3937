"""Signing the stored query: the worker unpickles only what this site pickled.

A job row holds a pickled ``QuerySet.query``, and unpickling runs code. Anyone
who can write that column (a SQL injection elsewhere, a shared database, a
restored dump) could otherwise run code as the worker. So the pickle is
signed with an HMAC keyed by ``SECRET_KEY`` (salted for this purpose only) and
bound to its job: the job's id and database alias are part of what is signed,
so a signed query cannot be moved onto another job or database either.

Rotation follows Django's: a signature made with a key in
``SECRET_KEY_FALLBACKS`` is accepted; one made with a key no longer listed is
refused, and its job fails with a message saying so.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.utils.crypto import salted_hmac

from perfkit.exports.models import ExportJob

SALT = "perfkit.exports.signing.query"
ALGORITHM = "sha256"


class UnverifiedQuery(Exception):
    """The stored query's signature is missing or does not match; it is never unpickled."""


def _message(job: ExportJob, payload: bytes) -> bytes:
    header = f"{job.pk}\n{job.database}\n".encode()
    return header + hashlib.sha256(payload).digest()


def _signature(job: ExportJob, payload: bytes, secret: str | bytes) -> str:
    return salted_hmac(SALT, _message(job, payload), secret=secret, algorithm=ALGORITHM).hexdigest()


def sign(job: ExportJob, payload: bytes) -> str:
    """The signature of ``payload`` (the pickled query) for ``job``, with ``SECRET_KEY``."""
    return _signature(job, payload, settings.SECRET_KEY)


def verified_query(job: ExportJob) -> bytes:
    """The job's pickled query, once its signature checks out; raises :class:`UnverifiedQuery`."""
    payload = bytes(job.query)
    stored = job.query_signature
    if not stored:
        raise UnverifiedQuery(
            "the stored query's signature does not match: the job has no signature "
            "(created before signing, or altered in the database); the job was not run"
        )
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        if hmac.compare_digest(stored, _signature(job, payload, secret)):
            return payload
    raise UnverifiedQuery(
        "the stored query's signature does not match: it was altered in the database, "
        "or signed with a SECRET_KEY no longer in SECRET_KEY or SECRET_KEY_FALLBACKS; "
        "the job was not run"
    )
