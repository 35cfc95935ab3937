"""The Redis recorder: one pipeline of HINCRBYs per flush, drained into rollups.

Layout, under ``RECORDER_REDIS_PREFIX`` (``p``):

``p:m:<minute>``  hash of the minute's counts; fields ``kind␟key␟c:<counter>``,
                  ``kind␟key␟x:<maximum>``, ``kind␟key␟h:<bucket>`` and, for a
                  key hashed to fit its column, ``kind␟key␟l:`` (its full text)
``p:pending``     set of minute hashes that hold counts
``p:claimed``     set of hashes a drain renamed and has not finished yet

A drain renames a closed minute's hash to a unique name (atomically, with the
bookkeeping, in a Lua script), writes its counts and the new name as a
:class:`~perfkit.models.DrainToken` in one database transaction, then deletes
the hash. A drain that dies after its commit leaves the hash in ``claimed``;
the next one finds the token and only deletes it, so nothing counts twice.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.db import IntegrityError, transaction

from perfkit.conf import perfkit_settings
from perfkit.models import DrainToken
from perfkit.recording.backends.base import Recorder
from perfkit.recording.buffer import Aggregate, Batch
from perfkit.recording.store import merge_batch

SEP = "\x1f"
KEY_TTL = 7 * 86400

# KEYS: hash, ARGV: field, value. HSET only when larger than what is there.
MAX_SCRIPT = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
"""

# KEYS: pending set, claimed set, source hash, new name.
CLAIM_SCRIPT = """
redis.call('SREM', KEYS[1], KEYS[3])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[4])
  redis.call('SADD', KEYS[2], KEYS[4])
  return 1
end
return 0
"""


def get_client(alias: str) -> Any:
    """The raw redis-py client behind a django-redis cache alias."""
    from django_redis import get_redis_connection

    return get_redis_connection(alias)


class RedisRecorder(Recorder):
    """Buffers in Redis hashes per minute; a drain moves them to the database."""

    needs_drain = True

    def __init__(self) -> None:
        self.client = get_client(perfkit_settings.RECORDER_CACHE_ALIAS)
        self.prefix = perfkit_settings.RECORDER_REDIS_PREFIX
        self._max = self.client.register_script(MAX_SCRIPT)
        self._claim = self.client.register_script(CLAIM_SCRIPT)

    @property
    def pending_key(self) -> str:
        return f"{self.prefix}:pending"

    @property
    def claimed_key(self) -> str:
        return f"{self.prefix}:claimed"

    def write(self, batch: Batch) -> None:
        if not batch:
            return
        pipe = self.client.pipeline(transaction=True)
        touched: set[str] = set()
        for (kind, key, minute), aggregate in batch.items():
            hkey = f"{self.prefix}:m:{minute}"
            touched.add(hkey)
            base = f"{kind}{SEP}{key}{SEP}"
            for name, value in aggregate.counters.items():
                pipe.hincrby(hkey, f"{base}c:{name}", value)
            for index, value in aggregate.histogram.items():
                pipe.hincrby(hkey, f"{base}h:{index}", value)
            for name, value in aggregate.maxima.items():
                self._max(keys=[hkey], args=[f"{base}x:{name}", value], client=pipe)
            if aggregate.label:
                pipe.hset(hkey, f"{base}l:", aggregate.label)
        for hkey in touched:
            pipe.expire(hkey, KEY_TTL)
            pipe.sadd(self.pending_key, hkey)
        pipe.execute()

    def drain(self, *, include_current: bool = False) -> int:
        """Claim closed minutes, then write every claimed hash exactly once."""
        current_minute = int(time.time()) // 60 * 60
        for raw in self.client.smembers(self.pending_key):
            hkey = raw.decode()
            minute = int(hkey.rsplit(":", 1)[1])
            if minute >= current_minute and not include_current:
                continue
            claimed = f"{self.prefix}:claimed:{minute}:{uuid.uuid4().hex}"
            self._claim(keys=[self.pending_key, self.claimed_key, hkey, claimed])
        drained = 0
        for raw in self.client.smembers(self.claimed_key):
            claimed = raw.decode()
            if self._drain_one(claimed):
                drained += 1
        return drained

    def _drain_one(self, claimed: str) -> bool:
        minute = int(claimed.split(":")[-2])
        batch = parse_hash(self.client.hgetall(claimed), minute)
        using = perfkit_settings.DATABASE_ALIAS
        written = False
        try:
            with transaction.atomic(using=using):
                DrainToken.objects.using(using).create(token=claimed)
                merge_batch(batch, using)
                written = True
        except IntegrityError:
            written = False  # another drain committed this batch already
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(claimed)
        pipe.srem(self.claimed_key, claimed)
        pipe.execute()
        return written

    def close(self) -> None:
        """redis-py pools its connections; nothing to release per flush."""


def parse_hash(data: dict[bytes, bytes], minute: int) -> Batch:
    """Turn a minute hash back into a batch of aggregates."""
    batch: Batch = {}
    for raw_field, raw_value in data.items():
        # A key may hold the separator; kinds and counter names never do.
        kind, rest = raw_field.decode("utf-8", "replace").split(SEP, 1)
        key, name = rest.rsplit(SEP, 1)
        aggregate = batch.get((kind, key, minute))
        if aggregate is None:
            aggregate = batch[(kind, key, minute)] = Aggregate()
        part, _, label = name.partition(":")
        if part == "l":
            aggregate.label = raw_value.decode("utf-8", "replace")
            continue
        value = int(raw_value)
        if part == "c":
            aggregate.counters[label] = value
        elif part == "h":
            aggregate.histogram[int(label)] = value
        elif part == "x":
            aggregate.maxima[label] = value
    return batch
