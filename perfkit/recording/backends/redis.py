"""The Redis recorder: one script of HINCRBYs per flush, drained into rollups.

Layout, under ``RECORDER_REDIS_PREFIX`` (``p``):

``p:m:<minute>``  hash of the minute's counts; fields ``kind␟key␟c:<counter>``,
                  ``kind␟key␟x:<maximum>``, ``kind␟key␟h:<bucket>`` and, for a
                  key hashed to fit its column, ``kind␟key␟l:`` (its full text)
``p:pending``     set of minute hashes that hold counts
``p:claimed``     set of hashes a drain renamed and has not finished yet
``p:batch:<id>``  a flushed batch's id, set by the same script that adds its
                  counts, so a batch resent after a lost reply adds nothing;
                  deleted by the process's next batch (else it expires in a day)
``p:writer:<id>`` one per recorder (process), set by every write: a write that
                  finds its own marker gone after an earlier write knows Redis
                  lost keys it held (a restart without persistence, FLUSHALL,
                  eviction), undrained counts with them, and reports it

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
from perfkit.recording import errors
from perfkit.recording.backends.base import Recorder
from perfkit.recording.buffer import Aggregate, Batch
from perfkit.recording.store import merge_batch

SEP = "\x1f"
KEY_TTL = 7 * 86400

# The error source of a Redis that lost a process's undrained counts.
LOST_SOURCE = "Redis lost undrained counts"
LOST_MESSAGE = (
    "Redis no longer holds keys this process wrote (a restart without persistence, "
    "FLUSHALL or eviction): counts not yet drained are lost. Run the recorder's Redis "
    "with AOF persistence and no eviction of perfkit's keys."
)


class RedisDataLost(RuntimeError):
    """Redis lost keys a recorder wrote before its counts were drained."""


# How long a batch id is remembered if no later batch of the process settles it.
BATCH_ID_TTL = 86400

# One flush, applied at most once per batch id.
# KEYS: the batch id, the pending set, the H touched hashes, the D ids of
#       batches settled since (deleted), then the writer's marker.
# ARGV: id TTL, hash TTL, H, D, whether this writer wrote before ("1"), then
#       per field: op, hash index (1..H), field, value; op "c" adds (HINCRBY),
#       "x" keeps the larger value, "l" sets a label.
# Returns 1 if applied (0 for a resend), plus 2 if the writer's marker was gone.
WRITE_SCRIPT = """
local hashes, settled = tonumber(ARGV[3]), tonumber(ARGV[4])
local writer = KEYS[3 + hashes + settled]
local lost = 0
if ARGV[5] == '1' and redis.call('EXISTS', writer) == 0 then lost = 2 end
redis.call('SET', writer, '1', 'EX', ARGV[2])
for i = 1, settled do redis.call('DEL', KEYS[2 + hashes + i]) end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return lost end
for i = 6, #ARGV, 4 do
  local key, field, value = KEYS[2 + tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  local op = ARGV[i]
  if op == 'c' then
    redis.call('HINCRBY', key, field, value)
  elseif op == 'x' then
    local current = tonumber(redis.call('HGET', key, field) or '-1')
    if tonumber(value) > current then redis.call('HSET', key, field, value) end
  else
    redis.call('HSET', key, field, value)
  end
end
for i = 1, hashes do
  redis.call('EXPIRE', KEYS[2 + i], ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[2 + i])
end
return 1 + lost
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
    idempotent = True

    def __init__(self) -> None:
        self.client = get_client(perfkit_settings.RECORDER_CACHE_ALIAS)
        self.prefix = perfkit_settings.RECORDER_REDIS_PREFIX
        self._write = self.client.register_script(WRITE_SCRIPT)
        self._settled: list[str] = []
        self._claim = self.client.register_script(CLAIM_SCRIPT)
        self._writer_key = f"{self.prefix}:writer:{uuid.uuid4().hex}"
        self._wrote = False

    @property
    def pending_key(self) -> str:
        return f"{self.prefix}:pending"

    @property
    def claimed_key(self) -> str:
        return f"{self.prefix}:claimed"

    def write(self, batch: Batch, batch_id: str | None = None) -> None:
        """Apply ``batch`` in one script that first sets its id (``NX``): a resend is a no-op."""
        if not batch:
            return
        id_key = f"{self.prefix}:batch:{batch_id or uuid.uuid4().hex}"
        hashes: dict[str, int] = {}
        ops: list[str | int] = []
        for (kind, key, minute), aggregate in batch.items():
            hkey = f"{self.prefix}:m:{minute}"
            index = hashes.setdefault(hkey, len(hashes) + 1)
            base = f"{kind}{SEP}{key}{SEP}"
            for name, value in aggregate.counters.items():
                ops += ["c", index, f"{base}c:{name}", value]
            for bucket, value in aggregate.histogram.items():
                ops += ["c", index, f"{base}h:{bucket}", value]
            for name, value in aggregate.maxima.items():
                ops += ["x", index, f"{base}x:{name}", value]
            if aggregate.label:
                ops += ["l", index, f"{base}l:", aggregate.label]
        settled = [old for old in self._settled if old != id_key]
        result = self._write(
            keys=[id_key, self.pending_key, *hashes, *settled, self._writer_key],
            args=[BATCH_ID_TTL, KEY_TTL, len(hashes), len(settled), int(self._wrote), *ops],
        )
        # Any later batch proves this one will not be resent: its id can go.
        self._settled = [id_key]
        self._wrote = True
        if int(result) & 2:
            errors.report(LOST_SOURCE, RedisDataLost(LOST_MESSAGE))

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
