"""Fixtures: real SQLite files, a real PostgreSQL server when one answers, real HTTP servers."""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.support import DEMO_RATES, LiveApi, make_node, serve  # noqa: F401  (fixtures below build on them)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from avance.bootstrap import Node

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REQUIRED_PG = os.environ.get("AVANCE_TEST_POSTGRES_URL")
PG_ADMIN_URL = REQUIRED_PG or DEFAULT_PG
_pg_problem: str | None = None


def _pg_reachable() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # no server, no driver, refused...
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def pytest_report_header(config: pytest.Config) -> str:
    global _pg_problem
    _pg_problem = _pg_reachable()
    where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
    if _pg_problem is None:
        return f"PostgreSQL: {where} answers; store tests run on SQLite and PostgreSQL"
    if REQUIRED_PG:
        return f"PostgreSQL: {where} REQUIRED (AVANCE_TEST_POSTGRES_URL) but unreachable: {_pg_problem}"
    return f"PostgreSQL: no server at {where}; PostgreSQL tests will be SKIPPED ({_pg_problem})"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if _pg_problem is not None and not REQUIRED_PG:
        skipped = len(terminalreporter.stats.get("skipped", []))
        terminalreporter.write_line(
            f"PostgreSQL was not reachable at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)}: "
            f"the PostgreSQL store tests were skipped ({skipped} skipped in all). "
            "Set AVANCE_TEST_POSTGRES_URL or run .ci/run to include them.",
            yellow=True,
        )


@pytest.fixture(scope="session")
def pg_server() -> str:
    problem = _pg_problem if _pg_problem is not None else _pg_reachable()
    if problem is not None:
        if REQUIRED_PG:
            pytest.fail(f"AVANCE_TEST_POSTGRES_URL is set but the server is unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)}")
    return PG_ADMIN_URL


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on ``server_url``, dropped afterwards."""
    name = f"avance_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A scratch PostgreSQL database for one test."""
    with scratch_database(pg_server) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'avance.db').as_posix()}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store under test: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'avance.db').as_posix()}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def node(store_url: str, tmp_path: Path) -> Iterator[Node]:
    n = make_node(store_url, tmp_path)
    yield n
    n.engine.dispose()


@pytest.fixture
def sqlite_node(sqlite_url: str, tmp_path: Path) -> Iterator[Node]:
    n = make_node(sqlite_url, tmp_path)
    yield n
    n.engine.dispose()


@pytest.fixture
def api(node: Node) -> Iterator[LiveApi]:
    """The API over HTTP, on each store engine."""
    yield from serve(node)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """One API per store engine shared by a module (for property tests with many examples)."""
    tmp = tmp_path_factory.mktemp("shared")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{(tmp / 'avance.db').as_posix()}"
        else:
            url = stack.enter_context(scratch_database(request.getfixturevalue("pg_server")))
        n = make_node(url, tmp)
        try:
            yield from serve(n)
        finally:
            n.engine.dispose()


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process command-line runs in English (``AVANCE_LANG=en``); the settings are cached, so
    they are cleared before and after."""
    from avance.kit.settings import get_settings

    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
