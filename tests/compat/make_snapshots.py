"""Regenerate the compatibility snapshots in ``tests/compat/snapshots/`` from the current code.

The snapshots record what partners and users depend on: the database schema the migrations
create (SQLite and PostgreSQL), the exchange's JSON Schema files and payload models, the HTTP
paths and methods, the ``avance`` command tree with its parameters, and the ``AVANCE_*``
environment variables with their defaults. ``tests/compat/test_snapshots.py`` fails when the
code no longer matches them.

The tests accept additions (a new table or column, a new route, command, optional option or
variable, a new message type); a snapshot is regenerated only for a deliberate, announced
breaking change: a renamed option, a changed message schema, a removed route. Do not run this script to make a failing test pass;
a difference is a regression until whoever owns the release has agreed to it and it is written in
the release notes (partners and operators read them to upgrade). Then run, from the repository's
root::

    .venv/bin/python tests/compat/make_snapshots.py

and commit the snapshot files with the change, so that the diff shows what moved. The
PostgreSQL snapshot needs a server (``AVANCE_TEST_POSTGRES_URL``, or the local default the tests
use); without one it is left as it is and the script says so and exits with status 1.

The first snapshots were made from the tree as it stood before the re-layout into capability
packages (the parent of commit d273d09), by feeding its objects (``avance.store.migrate``,
``avance.exchange.payloads``, ``avance.app.create_app``, ``avance.cli.app``,
``avance.config.Settings``) to the same readers in ``extract.py``: the tests prove the re-layout
moved nothing.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository's root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import typer
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from avance.bootstrap import Node
from avance.__main__ import app
from avance.entrypoints.http import create_app
from avance.exchange.envelope import SCHEMA_DIR
from avance.kit.settings import Settings
from avance.migrations import alembic_config, upgrade
from avance.movements.payloads import PAYLOADS
from avance.store.engine import make_engine
from tests.compat import extract
from tests.conftest import PG_ADMIN_URL, _pg_reachable, scratch_database
from tests.support import make_node

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def snapshot_path(name: str) -> Path:
    return SNAPSHOTS / f"{name}.json"


# --- what the current code offers, read the way the snapshots were ------------------------------


def database(url: str) -> dict[str, Any]:
    """The schema the migrations create on a fresh database at ``url``."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        return extract.database_schema(engine)
    finally:
        engine.dispose()


def known_revisions() -> set[str]:
    """Every revision of the migration history: a database at any of them can be upgraded."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config(None)).walk_revisions()}  # type: ignore[arg-type]


def exchange_schemas() -> dict[str, Any]:
    return extract.exchange_schemas(SCHEMA_DIR, PAYLOADS)


def http_routes(node: Node) -> list[str]:
    return extract.http_routes(create_app(node).openapi())


def commands() -> dict[str, Any]:
    return extract.command_tree(typer.main.get_command(app))


def environment() -> dict[str, Any]:
    return extract.environment(Settings)


# --- the script ----------------------------------------------------------------------------------


@contextmanager
def _sqlite_url() -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="avance-compat-") as tmp:
        yield f"sqlite:///{(Path(tmp) / 'avance.db').as_posix()}", Path(tmp)


def _write(name: str, value: Any) -> None:
    path = snapshot_path(name)
    text = extract.dumps(value)
    before = path.read_text(encoding="utf-8") if path.exists() else None
    path.write_text(text, encoding="utf-8")
    print(f"{'unchanged' if before == text else 'WRITTEN  '} {path.relative_to(SNAPSHOTS.parents[2])}")


def main() -> int:
    SNAPSHOTS.mkdir(exist_ok=True)
    with _sqlite_url() as (url, _):
        _write("database-sqlite", database(url))
    problem = _pg_reachable()
    if problem is None:
        with scratch_database(PG_ADMIN_URL) as url:
            _write("database-postgresql", database(url))
    _write("exchange-schemas", exchange_schemas())
    with _sqlite_url() as (url, tmp):
        node = make_node(url, tmp)
        try:
            _write("http-routes", http_routes(node))
        finally:
            node.engine.dispose()
    _write("commands", commands())
    _write("environment", environment())
    if problem is not None:
        where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        print(f"PostgreSQL not reachable at {where} ({problem}): database-postgresql.json NOT regenerated", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
