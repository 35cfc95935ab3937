"""A flush is idempotent: a batch resent after a lost reply counts once (issue #12, item 1)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import DataError, OperationalError
from django.test import Client, override_settings

from perfkit import api
from perfkit.models import Resolution, Rollup
from perfkit.recording.backends.base import Recorder
from perfkit.recording.backends.db import DatabaseRecorder
from perfkit.recording.buffer import Batch
from perfkit.recording.pipeline import pipeline
from tests.conftest import RedisServer, needs_redis
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db


def _endpoint_total(endpoint: str = "GET ping/") -> int:
    row = Rollup.objects.filter(kind="endpoint", key=endpoint, resolution=Resolution.TOTAL).first()
    return int(row.counters.get("count", 0)) if row else 0


def _flush_until_ok(attempts: int = 20) -> int:
    """Flush until a flush succeeds; returns how many failed first."""
    for failed in range(attempts):
        if api.flush():
            return failed
    raise AssertionError(f"no flush succeeded in {attempts} attempts")


# The database recorder ------------------------------------------------------


def test_a_database_flush_whose_reply_is_lost_counts_once(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit is applied, then the connection "drops": the resend is a no-op."""
    original = DatabaseRecorder.write
    lost = {"replies": 0}

    def commit_then_lose_the_reply(self: DatabaseRecorder, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)  # its transaction has committed
        if lost["replies"] < 2:
            lost["replies"] += 1
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(DatabaseRecorder, "write", commit_then_lose_the_reply)
    with override_perfkit({"RECORDER": "db"}):
        pipeline.reset_recorder()
        for _ in range(5):
            client.get("/ping/")
        assert not api.flush()  # applied, but the pipeline cannot know
        for _ in range(7):
            client.get("/ping/")
        assert _flush_until_ok() == 1
        assert lost["replies"] == 2
    assert _endpoint_total() == 12


class LedgerRecorder(Recorder):
    """An idempotent fake store: applies each batch id once, loses some replies.

    Keys containing "poison" are refused for their data (nothing applied), so
    a batch holding one is split; the first attempt of every part whose keys
    contain "lossy" is applied and then its reply is lost.
    """

    idempotent = True

    def __init__(self) -> None:
        self.applied: dict[str, int] = {}
        self.ids: list[str] = []
        self.seen: set[str] = set()
        self.lost: set[str] = set()

    def write(self, batch: Batch, batch_id: str | None = None) -> None:
        assert batch_id, "an idempotent recorder is given the batch id"
        if any("poison" in key for _, key, _ in batch):
            raise DataError("refused")
        self.ids.append(batch_id)
        if batch_id not in self.seen:
            self.seen.add(batch_id)
            for (kind, key, _), aggregate in batch.items():
                if kind == "test":
                    self.applied[key] = self.applied.get(key, 0) + aggregate.counters["count"]
        if any("lossy" in key for _, key, _ in batch) and batch_id not in self.lost:
            self.lost.add(batch_id)
            raise OperationalError("reply lost")


def test_a_split_batch_keeps_a_distinct_id_per_part_and_resends_count_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "bad_rows_dropped", 0)  # a process-wide count
    recorder = LedgerRecorder()
    keys = [f"good{n}" for n in range(6)] + ["poison", "lossy", "lossy too"]
    for key in keys:
        pipeline.record("test", key, {"count": 1})
    pipeline._recorder = recorder
    failures = _flush_until_ok()
    assert failures >= 1
    pipeline.record("test", "good0", {"count": 1})
    pipeline._recorder = recorder
    _flush_until_ok()
    assert recorder.applied == {
        **{f"good{n}": 1 for n in range(6)},
        "good0": 2,
        "lossy": 1,
        "lossy too": 1,
    }
    # Every part applied has its own id; a resent part reuses its id.
    first_writes = [i for n, i in enumerate(recorder.ids) if i not in recorder.ids[:n]]
    assert len(first_writes) == len(set(first_writes))
    assert set(recorder.lost) <= set(first_writes)


# The Redis recorder, through a proxy that loses replies ----------------------


def _command_end(data: bytes | bytearray, start: int) -> tuple[int, bytes] | None:
    """End offset and name of the RESP command at ``start``, if it is complete."""
    line_end = data.find(b"\r\n", start)
    if line_end < 0:
        return None
    if data[start : start + 1] != b"*":  # an inline command
        return line_end + 2, bytes(data[start:line_end]).split(b" ", 1)[0].upper()
    count = int(data[start + 1 : line_end])
    position, name = line_end + 2, b""
    for index in range(count):
        size_end = data.find(b"\r\n", position)
        if size_end < 0:
            return None
        size = int(data[position + 1 : size_end])
        value_end = size_end + 2 + size
        if len(data) < value_end + 2:
            return None
        if index == 0:
            name = bytes(data[size_end + 2 : value_end]).upper()
        position = value_end + 2
    return position, name


class LossyProxy:
    """A TCP proxy in front of Redis that loses the reply of every ``every``-th write.

    A write is an ``EXEC`` or an ``EVALSHA``/``EVAL`` outside ``MULTI``: the proxy forwards the
    whole command, lets Redis run it, swallows the reply and closes the
    client's side, as a timeout or a failover would.
    """

    WRITES = (b"EXEC", b"EVALSHA", b"EVAL")

    def __init__(self, target_port: int, every: int = 3) -> None:
        self.target_port = target_port
        self.every = every
        self.writes = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            dropping = threading.Event()
            replied = threading.Event()
            threading.Thread(
                target=self._upstream, args=(client, server, dropping, replied), daemon=True
            ).start()
            threading.Thread(
                target=self._downstream, args=(server, client, dropping, replied), daemon=True
            ).start()

    def _upstream(
        self,
        client: socket.socket,
        server: socket.socket,
        dropping: threading.Event,
        replied: threading.Event,
    ) -> None:
        pending = bytearray()
        in_multi = False  # a script inside MULTI only runs at EXEC
        try:
            while chunk := client.recv(65536):
                pending += chunk
                start = 0
                while (parsed := _command_end(pending, start)) is not None:
                    end, name = parsed
                    drop = False
                    if name == b"MULTI":
                        in_multi = True
                    elif name in (b"EXEC", b"DISCARD"):
                        in_multi = False
                    if name in self.WRITES and self.every and (name == b"EXEC" or not in_multi):
                        with self._lock:
                            self.writes += 1
                            drop = self.writes % self.every == 0
                    if drop:
                        dropping.set()
                        server.sendall(bytes(pending[:end]))
                        replied.wait(5)  # Redis ran it; its reply is swallowed
                        time.sleep(0.05)  # and whatever else it sent
                        with self._lock:
                            self.dropped += 1
                        client.shutdown(socket.SHUT_RDWR)
                        client.close()
                        server.close()
                        return
                    start = end
                if start:
                    server.sendall(bytes(pending[:start]))
                    del pending[:start]
        except OSError:
            pass
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()

    def _downstream(
        self,
        server: socket.socket,
        client: socket.socket,
        dropping: threading.Event,
        replied: threading.Event,
    ) -> None:
        try:
            while chunk := server.recv(65536):
                if dropping.is_set():
                    replied.set()
                    continue
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            replied.set()
            with contextlib.suppress(OSError):
                client.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(2)


@pytest.fixture
def lossy_redis(own_redis: RedisServer) -> Iterator[LossyProxy]:
    proxy = LossyProxy(own_redis.port, every=3)
    caches = {
        **settings.CACHES,
        "recorder": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{proxy.port}/0",
            "OPTIONS": {"SOCKET_TIMEOUT": 5, "SOCKET_CONNECT_TIMEOUT": 5},
        },
    }
    try:
        with (
            override_settings(CACHES=caches),
            override_perfkit({"RECORDER": "redis", "RECORDER_CACHE_ALIAS": "recorder"}),
        ):
            pipeline.reset_recorder()
            yield proxy
    finally:
        pipeline.reset_recorder()
        proxy.close()


@needs_redis
def test_redis_flushes_through_a_proxy_losing_every_third_reply_count_exactly(
    client: Client, lossy_redis: LossyProxy
) -> None:
    for _ in range(12):
        client.get("/ping/")
        _flush_until_ok()
    assert lossy_redis.dropped >= 3  # the faults really happened
    lossy_redis.every = 0  # drain without faults: the flushes are under test
    api.drain(include_current=True)
    assert _endpoint_total() == 12
