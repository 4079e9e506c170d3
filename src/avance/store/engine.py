"""Engines and transactions. SQLite (WAL) by default; PostgreSQL when the URL says so."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


WRITE = "avance_write"


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A read-write transaction: committed on success, rolled back on any error.

    On SQLite it begins IMMEDIATE, so that concurrent writers queue (busy timeout) instead of
    failing; reads use ``engine.connect()`` and never wait for writers.
    """
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            yield conn


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    kwargs.setdefault("json_serializer", _dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below, not by pysqlite
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # A writer takes the write lock when it begins: a deferred transaction that read first
            # could not upgrade once another writer has committed (SQLITE_BUSY_SNAPSHOT in WAL).
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def unstorable_text(exc: BaseException) -> bool:
    """Whether the database refused a character of some text (PostgreSQL cannot keep U+0000)."""
    try:
        from psycopg import errors
    except ImportError:  # no PostgreSQL driver: SQLite keeps any character
        return False
    return isinstance(getattr(exc, "orig", None), (errors.UntranslatableCharacter, errors.CharacterNotInRepertoire))
