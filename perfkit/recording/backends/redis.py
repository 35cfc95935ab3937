"""The Redis recorder: one script of HINCRBYs per flush, drained into rollups.

Layout, under ``RECORDER_REDIS_PREFIX`` (``p``):

``p:m:<minute>``  hash of the minute's counts; fields ``kind␟key␟c:<counter>``,
                  ``kind␟key␟x:<maximum>``, ``kind␟key␟h:<bucket>`` and, for a
                  key hashed to fit its column, ``kind␟key␟l:`` (its full text)
``p:m:<minute>:ids``  set of the ids of the batches added to that hash
``p:r:<batch id>:<minute>``  one batch's counts of one minute, resent by its
                  process after Redis lost them (below), with its ``:ids`` set
``p:pending``     set of the hashes above that hold counts
``p:claimed``     set of hashes a drain renamed and has not finished yet
``p:batch:<id>``  a flushed batch's id, set by the same script that adds its
                  counts, so a batch resent after a lost reply adds nothing;
                  deleted by the process's next batch (else it expires in a day)
``p:writer:<id>`` one per recorder (process), set by every write: a write that
                  finds its own marker gone after an earlier write knows Redis
                  lost keys it held (a restart without persistence, FLUSHALL,
                  eviction), undrained counts with them

A drain renames a closed minute's hash and its ids set to unique names
(atomically, with the bookkeeping, in a Lua script), then in one database
transaction writes the counts, the new name as a
:class:`~perfkit.models.DrainToken` and one
:class:`~perfkit.models.DrainedBatch` per batch id and minute, then deletes
the hash. A drain that dies after its commit leaves the hash in ``claimed``;
the next one finds the token and only deletes it, so nothing counts twice.

Losing Redis. Each recorder keeps the batches it wrote in the last
``RECORDER_REDIS_JOURNAL_SECONDS`` in memory (:mod:`.journal`). When a write
finds its marker gone, the script applies nothing and the recorder resends
every journal entry, and the batch at hand, as ``p:r:<batch id>:<minute>``
hashes (idempotent: each is overwritten whole), never into the shared minute
hashes; the marker is set again by the same resend. While the journal holds
entries an idle process checks its marker once per flush (``idle_check``), so
it notices a restart without traffic. A resend hash is drained like a minute
hash; its :class:`~perfkit.models.DrainedBatch` row is the guard: if the
(batch, minute) was drained before the loss, or by a drain that read it
before the restart and committed after, the row exists, the transaction
fails and the resend is deleted uncounted. So each batch counts at most
once, and the totals of every process still alive are exact; what processes
that exited since wrote and nobody drained is lost.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.db import IntegrityError, transaction

from perfkit.conf import perfkit_settings
from perfkit.models import DrainedBatch, DrainToken
from perfkit.recording import errors
from perfkit.recording.backends.base import Recorder
from perfkit.recording.backends.journal import Fields, Journal
from perfkit.recording.buffer import Aggregate, Batch
from perfkit.recording.store import merge_batch

SEP = "\x1f"
KEY_TTL = 7 * 86400

# The error source of a Redis that lost a process's undrained counts.
LOST_SOURCE = "Redis lost undrained counts"
LOST_MESSAGE = (
    "Redis no longer holds keys this process wrote (a restart without persistence, "
    "FLUSHALL or eviction). The counts it wrote in the last "
    "RECORDER_REDIS_JOURNAL_SECONDS were resent from its journal and count once; "
    "undrained counts of processes that exited since are lost."
)
# A minute hash not counted because a resend of one of its batches was (a drain
# that read it before Redis restarted and committed after the resend's drain).
CONFLICT_SOURCE = "Redis drain skipped a minute already resent"
CONFLICT_MESSAGE = (
    "A drain read a minute before Redis lost it and committed after a resend of one of "
    "its batches was counted: the minute was not counted again; its live processes' "
    "counts came from their resends."
)


class RedisDataLost(RuntimeError):
    """Redis lost keys a recorder wrote before its counts were drained."""


# How long a batch id is remembered if no later batch of the process settles it.
BATCH_ID_TTL = 86400

# One flush, applied at most once per batch id.
# KEYS: the batch id, the pending set, the H touched hashes, their H ids sets,
#       the D ids of batches settled since (deleted), then the writer's marker.
# ARGV: id TTL, hash TTL, H, D, whether this writer wrote before ("1"), the
#       batch id, then per field: op, hash index (1..H), field, value; op "c"
#       adds (HINCRBY), "x" keeps the larger value, "l" sets a label.
# Returns 1 if applied, 0 for a resend, 2 if the writer's marker was gone
# (nothing applied: the writer resends its journal instead).
WRITE_SCRIPT = """
local hashes, settled = tonumber(ARGV[3]), tonumber(ARGV[4])
local writer = KEYS[3 + 2 * hashes + settled]
if ARGV[5] == '1' and redis.call('EXISTS', writer) == 0 then return 2 end
redis.call('SET', writer, '1', 'EX', ARGV[2])
for i = 1, settled do redis.call('DEL', KEYS[2 + 2 * hashes + i]) end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 7, #ARGV, 4 do
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
  local ids = KEYS[2 + hashes + i]
  redis.call('EXPIRE', KEYS[2 + i], ARGV[2])
  redis.call('SADD', ids, ARGV[6])
  redis.call('EXPIRE', ids, ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[2 + i])
end
return 1
"""

# One batch's counts of one minute, resent after a loss: overwritten whole,
# so sending it again changes nothing.
# KEYS: pending set, the resend hash, its ids set. ARGV: TTL, batch id, then
#       field, value pairs.
RESEND_SCRIPT = """
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[1], KEYS[2])
return 1
"""

# KEYS: pending set, claimed set, source hash, new name, their ids sets.
CLAIM_SCRIPT = """
redis.call('SREM', KEYS[1], KEYS[3])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[4])
  if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], KEYS[6]) end
  redis.call('SADD', KEYS[2], KEYS[4])
  return 1
end
return 0
"""

# Script calls per round trip when resending a journal.
RESEND_CHUNK = 200


def resend_ttl() -> int:
    """Seconds a resend hash waits for a drain: twice the journal window, at least an hour.

    :func:`perfkit.api.prune` keeps :class:`~perfkit.models.DrainedBatch`
    rows for twice this, so a resend always finds the row of its drained original.
    """
    return max(int(2 * perfkit_settings.RECORDER_REDIS_JOURNAL_SECONDS), 3600)


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
        self._resend = self.client.register_script(RESEND_SCRIPT)
        self._settled: list[str] = []
        self._claim = self.client.register_script(CLAIM_SCRIPT)
        self._writer_key = f"{self.prefix}:writer:{uuid.uuid4().hex}"
        # A write was attempted (it may have set the marker), and one succeeded.
        self._wrote = False
        self._confirmed = False
        # A loss was found and the journal not yet fully resent.
        self._recovering = False
        self.journal = Journal()
        self.recoveries = 0

    @property
    def pending_key(self) -> str:
        return f"{self.prefix}:pending"

    @property
    def claimed_key(self) -> str:
        return f"{self.prefix}:claimed"

    def write(self, batch: Batch, batch_id: str | None = None) -> None:
        """Apply ``batch`` in one script that first sets its id (``NX``): a resend is a no-op.

        If Redis lost what this process wrote, the batch and the journal are
        resent instead (see the module's docstring).
        """
        if not batch:
            return
        batch_id = batch_id or uuid.uuid4().hex
        self.journal.expire(perfkit_settings.RECORDER_REDIS_JOURNAL_SECONDS)
        if self._recovering:
            self._recover(batch_id, journal_fields(batch))
            return
        id_key = f"{self.prefix}:batch:{batch_id}"
        hashes: dict[str, int] = {}
        ops: list[str | int] = []
        minutes: dict[int, Fields] = {}
        for (kind, key, minute), aggregate in batch.items():
            hkey = f"{self.prefix}:m:{minute}"
            index = hashes.setdefault(hkey, len(hashes) + 1)
            fields = minutes.setdefault(minute, [])
            for op, field, value in encode(kind, key, aggregate):
                ops += [op, index, field, value]
                fields += [field, value]
        settled = [old for old in self._settled if old != id_key]
        ids = [f"{hkey}:ids" for hkey in hashes]
        wrote_before = self._wrote
        # Set first: a reply lost after the marker was set must not make the
        # next write think this writer never wrote.
        self._wrote = True
        result = self._write(
            keys=[id_key, self.pending_key, *hashes, *ids, *settled, self._writer_key],
            args=[
                BATCH_ID_TTL,
                KEY_TTL,
                len(hashes),
                len(settled),
                int(wrote_before),
                batch_id,
                *ops,
            ],
        )
        if int(result) == 2:
            self._lost()
            self._recover(batch_id, minutes)
            return
        # Any later batch proves this one will not be resent: its id can go.
        self._settled = [id_key]
        self._confirmed = True
        self._remember(batch_id, minutes)

    def idle_check(self) -> None:
        """With nothing to write: if Redis lost what the journal holds, resend it.

        One ``EXISTS`` per flush while the journal holds entries; none after.
        """
        self.journal.expire(perfkit_settings.RECORDER_REDIS_JOURNAL_SECONDS)
        if self._recovering:
            self._recover()
        elif len(self.journal) and not self.client.exists(self._writer_key):
            self._lost()
            self._recover()

    def _remember(self, batch_id: str, minutes: dict[int, Fields]) -> None:
        if perfkit_settings.RECORDER_REDIS_JOURNAL_SECONDS > 0:
            self.journal.add(batch_id, minutes)

    def _lost(self) -> None:
        self._recovering = True
        self.recoveries += 1
        if self._confirmed:
            errors.report(LOST_SOURCE, RedisDataLost(LOST_MESSAGE))

    def _recover(
        self, batch_id: str | None = None, minutes: dict[int, Fields] | None = None
    ) -> None:
        """Resend the journal (and the batch at hand) as resend hashes, then set the marker.

        Idempotent: a failure leaves ``_recovering`` set and the next write or
        idle check resends everything again.
        """
        entries = [(entry.batch_id, entry.minutes) for entry in self.journal.entries()]
        if batch_id is not None and minutes is not None:
            entries = [entry for entry in entries if entry[0] != batch_id]
            entries.append((batch_id, minutes))
        ttl = resend_ttl()
        pipe = self.client.pipeline(transaction=False)
        queued = 0
        for sent_id, sent_minutes in entries:
            for minute, fields in sent_minutes.items():
                hkey = f"{self.prefix}:r:{sent_id}:{minute}"
                self._resend(
                    keys=[self.pending_key, hkey, f"{hkey}:ids"],
                    args=[ttl, sent_id, *fields],
                    client=pipe,
                )
                queued += 1
                if queued % RESEND_CHUNK == 0:
                    pipe.execute()
        pipe.set(self._writer_key, "1", ex=KEY_TTL)
        pipe.execute()
        self._recovering = False
        if batch_id is not None and minutes is not None:
            self._confirmed = True
            self._remember(batch_id, minutes)

    def drain(self, *, include_current: bool = False) -> int:
        """Claim closed minutes, then write each claimed hash exactly once.

        Minute hashes go before resends: should a resend's original still be
        in Redis (its process took an evicted marker for a loss), the minute
        counts and the resend is discarded, not the other way round.
        """
        current_minute = int(time.time()) // 60 * 60
        for raw in self.client.smembers(self.pending_key):
            hkey = raw.decode()
            minute = int(hkey.rsplit(":", 1)[1])
            if minute >= current_minute and not include_current:
                continue
            self.claim(hkey)
        claimed = sorted(
            (raw.decode() for raw in self.client.smembers(self.claimed_key)),
            key=lambda name: name.rsplit(":", 1)[1].startswith("r-"),
        )
        return sum(1 for name in claimed if self._drain_one(name))

    def claim(self, hkey: str) -> str | None:
        """Rename a pending hash (and its ids) to a name of this drain's; None if gone."""
        minute = int(hkey.rsplit(":", 1)[1])
        tag = "r-" if hkey.startswith(f"{self.prefix}:r:") else ""
        claimed = f"{self.prefix}:claimed:{minute}:{tag}{uuid.uuid4().hex}"
        keys = [self.pending_key, self.claimed_key, hkey, claimed, f"{hkey}:ids", f"{claimed}:ids"]
        return claimed if self._claim(keys=keys) else None

    def _drain_one(self, claimed: str) -> bool:
        batch, ids = self.read_claimed(claimed)
        return self.commit_claimed(claimed, batch, ids)

    def read_claimed(self, claimed: str) -> tuple[Batch, list[str]]:
        """A claimed hash's counts and the ids of the batches in it, read atomically."""
        minute = int(claimed.split(":")[-2])
        read = self.client.pipeline(transaction=True)
        read.hgetall(claimed)
        read.smembers(f"{claimed}:ids")
        data, ids = read.execute()
        return parse_hash(data, minute), sorted(raw.decode() for raw in ids)

    def commit_claimed(self, claimed: str, batch: Batch, ids: list[str]) -> bool:
        """Write a claimed hash's counts once, with its token and batch rows; then delete it."""
        minute = int(claimed.split(":")[-2])
        using = perfkit_settings.DATABASE_ALIAS
        written = False
        try:
            with transaction.atomic(using=using):
                DrainToken.objects.using(using).create(token=claimed)
                DrainedBatch.objects.using(using).bulk_create(
                    [DrainedBatch(batch_id=batch_id, minute=minute) for batch_id in ids]
                )
                merge_batch(batch, using)
                written = True
        except IntegrityError:
            # Another drain committed this hash already, or (for a resend) its
            # batch was drained before Redis lost it: count nothing.
            written = False
            resend = claimed.rsplit(":", 1)[1].startswith("r-")
            if not resend and not DrainToken.objects.using(using).filter(token=claimed).exists():
                errors.report(CONFLICT_SOURCE, RedisDataLost(CONFLICT_MESSAGE))
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(claimed, f"{claimed}:ids")
        pipe.srem(self.claimed_key, claimed)
        pipe.execute()
        return written

    def close(self) -> None:
        """redis-py pools its connections; nothing to release per flush."""


def encode(kind: str, key: str, aggregate: Aggregate) -> list[tuple[str, str, str | int]]:
    """An aggregate's hash fields: (op, field, value); ops as in ``WRITE_SCRIPT``."""
    base = f"{kind}{SEP}{key}{SEP}"
    fields: list[tuple[str, str, str | int]] = []
    for name, value in aggregate.counters.items():
        fields.append(("c", f"{base}c:{name}", value))
    for bucket, value in aggregate.histogram.items():
        fields.append(("c", f"{base}h:{bucket}", value))
    for name, value in aggregate.maxima.items():
        fields.append(("x", f"{base}x:{name}", value))
    if aggregate.label:
        fields.append(("l", f"{base}l:", aggregate.label))
    return fields


def journal_fields(batch: Batch) -> dict[int, Fields]:
    """A batch as the fields and values of its own hash per minute (what a resend writes)."""
    minutes: dict[int, Fields] = {}
    for (kind, key, minute), aggregate in batch.items():
        fields = minutes.setdefault(minute, [])
        for _op, field, value in encode(kind, key, aggregate):
            fields += [field, value]
    return minutes


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
