"""What the benchmark scripts share: logging, child processes and database creation."""

from __future__ import annotations

import sys
from typing import Any


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


class Child:
    """A child process and the pipe to it (``target(*args, conn)`` serves calls)."""

    def __init__(self, ctx: Any, target: Any, *args: str, join_timeout: float = 60) -> None:
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(*args, child_conn), daemon=True)
        self.process.start()
        child_conn.close()
        self.join_timeout = join_timeout

    def receive(self, what: str) -> Any:
        try:
            status, payload = self.conn.recv()
        except EOFError:
            raise SystemExit(f"{what}: the child process died") from None
        if status == "error":
            raise SystemExit(f"{what}: {payload}")
        return payload

    def call(self, name: str, *args: Any) -> Any:
        self.conn.send((name, args))
        return self.receive(name)

    def stop(self) -> None:
        if self.process.is_alive():
            self.call("stop")
        self.process.join(self.join_timeout)


def answer_calls(conn: Any, commands: dict[str, Any]) -> None:
    """In a child: answer :meth:`Child.call` with ``commands[name](*args)`` until ``stop``."""
    while True:
        name, args = conn.recv()
        if name == "stop":
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", commands[name](*args)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def ensure_database(common: Any) -> None:
    """Create ``common.PG_DATABASE`` if it is missing (psycopg, via the db ``postgres``)."""
    import psycopg
    from psycopg import sql

    name = common.PG_DATABASE
    with psycopg.connect(
        host=common.PG_HOST,
        port=common.PG_PORT,
        user=common.PG_USER,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log(f"created database {name}")
