"""What partners and users built on stays where it was: the snapshots in ``snapshots/`` record it.

Each test reads the current code the way ``make_snapshots.py`` does and checks that everything the
stored snapshot records is still there, unchanged. The snapshots were made from the code before
the re-layout into capability packages. Additions (a table, a route, a command, an option that is
not required, a variable, a message type) break nobody and pass; what was recorded must not move,
disappear or become required. A deliberate breaking change is announced in the release notes and
only then is the snapshot regenerated (see ``make_snapshots.py``).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest

from tests.compat import extract, make_snapshots


def recorded(name: str) -> Any:
    return json.loads(make_snapshots.snapshot_path(name).read_text(encoding="utf-8"))


def assert_kept(name: str, current: Any, kept: Any) -> None:
    """Fail with a diff when ``kept`` (the part of ``current`` that the snapshot recorded, as
    ``current`` has it now) differs from the snapshot."""
    snapshot = recorded(name)
    if kept == snapshot:
        return
    diff = difflib.unified_diff(
        extract.dumps(snapshot).splitlines(), extract.dumps(kept).splitlines(), f"snapshot {name}.json", "current code", lineterm="", n=2
    )
    pytest.fail(
        f"{name}.json: something users or partners depend on moved or disappeared. Fix the regression, or, for a "
        "deliberate and announced change, regenerate with tests/compat/make_snapshots.py.\n" + "\n".join(diff),
        pytrace=False,
    )


def _keep(current: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``current`` under the snapshot's keys (a missing one shows as missing)."""
    return {key: current.get(key, "(missing)") for key in snapshot}


def _kept_list(current: list[Any], snapshot: list[Any]) -> list[Any]:
    """The snapshot's entries that ``current`` still has, in the snapshot's order (new ones left out)."""
    have = {json.dumps(entry, sort_keys=True) for entry in current}
    return [entry if json.dumps(entry, sort_keys=True) in have else {"(missing)": entry} for entry in snapshot]


def kept_schema(current: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """The recorded tables as the migrations leave them now: recorded columns, indexes, keys and
    constraints (new tables, and new columns and indexes on a table, are additions). The
    revision counts as kept when the recorded one is still in the migration history, so that a
    node on the previous release is recognised and upgraded in place."""
    tables = {}
    for name, table in snapshot["tables"].items():
        now = current["tables"].get(name)
        if now is None:
            tables[name] = "(missing)"
            continue
        if name == "alembic_version":
            tables[name] = now
            continue
        tables[name] = {
            "columns": _kept_list(now["columns"], table["columns"]),
            **{part: _kept_list(now[part], table[part]) for part in ("indexes", "unique_constraints", "foreign_keys")},
        }
    revision = [r if r in make_snapshots.known_revisions() else f"{r} (unknown to the migrations)" for r in snapshot["revision"]]
    return {"dialect": current["dialect"], "revision": revision, "tables": tables}


def kept_commands(current: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """The recorded commands as they stand now: their kind and the recorded parameters (a new
    parameter is an addition unless it is required: a script that worked would then fail)."""
    kept = {}
    for path, command in snapshot.items():
        now = current.get(path)
        if now is None:
            kept[path] = "(missing)"
            continue
        params = _kept_list(now["params"], command["params"])
        params += [f"(new and required) {p}" for p in now["params"] if p not in command["params"] and "[required]" in p]
        kept[path] = {"kind": now["kind"], "params": params}
    return kept


def test_the_migrations_build_the_schema_operators_databases_already_have(store_url):
    """A database migrated by this release has the tables, columns, types, nullability, keys,
    indexes, unique constraints and foreign keys recorded (on SQLite and on PostgreSQL), and the
    same migration revision as a node on the previous release: an operator's existing database is
    recognised and upgraded in place, and the reports and scripts IT teams run against it keep
    working."""
    schema = make_snapshots.database(store_url)
    name = f"database-{schema['dialect']}"
    assert_kept(name, schema, kept_schema(schema, recorded(name)))


def test_a_partner_node_on_the_previous_release_still_validates_our_messages():
    """A partner administration validates our messages with the JSON Schema files it downloaded
    (the envelope and the six business payloads), and we validate theirs with the same models:
    neither the files nor the models' schemas (what we accept, what we send) have moved."""
    current = make_snapshots.exchange_schemas()
    snapshot = recorded("exchange-schemas")
    kept = {part: _keep(current[part], snapshot[part]) for part in ("files", "payload_models")}
    assert_kept("exchange-schemas", current, kept)


def test_broker_systems_and_partner_nodes_find_every_http_route_where_it_was(sqlite_node):
    """Brokers' software, single-window integrations and partner nodes call the API by method and
    path: every one of them still answers (paths and methods only; the documentation of the
    responses may improve)."""
    current = make_snapshots.http_routes(sqlite_node)
    assert_kept("http-routes", current, _kept_list(current, recorded("http-routes")))


def test_operators_scripts_still_call_every_command_with_the_same_options():
    """IT teams run ``avance`` from cron jobs, deployment scripts and runbooks: every command and
    group (``avance exchange selftest``, ``avance model demo-data``...) keeps its path, its
    arguments and option names, and what is required stays required (and nothing more is)."""
    current = make_snapshots.commands()
    assert_kept("commands", current, kept_commands(current, recorded("commands")))


def test_a_deployed_node_keeps_its_configuration_variables_and_defaults():
    """A node is configured by ``AVANCE_*`` variables in its service file or ``.env``: every
    variable is still read under the same name, and an unset one still means the same default
    (a tolerance, a deadline, where the data lives)."""
    current = make_snapshots.environment()
    assert_kept("environment", current, _keep(current, recorded("environment")))


def test_the_checks_let_additions_through_and_catch_what_moved():
    """The checks above pass a release that only adds, and fail one that removes, renames or
    makes required what a user relied on."""
    before = {"avance x": {"kind": "command", "params": ["--a", "--b"]}}
    assert kept_commands({"avance x": {"kind": "command", "params": ["--a", "--b", "--c"]}, "avance y": {"kind": "command", "params": []}}, before) == before
    assert kept_commands({"avance x": {"kind": "command", "params": ["--a"]}}, before) != before
    assert kept_commands({"avance x": {"kind": "command", "params": ["--a", "--b", "--c [required]"]}}, before) != before
    assert kept_commands({}, before) != before
    column = {"name": "lane", "type": "String(length=8)", "ddl": "VARCHAR(8)", "nullable": False, "primary_key": False}
    table = {"columns": [column], "indexes": [], "unique_constraints": [], "foreign_keys": []}
    snapshot = {"dialect": "sqlite", "revision": ["0001"], "tables": {"declarations": table}}
    grown = {"columns": [column, dict(column, name="paid")], "indexes": [{"name": "ix", "columns": ["paid"], "unique": False}], "unique_constraints": [], "foreign_keys": []}
    assert kept_schema({"dialect": "sqlite", "revision": ["0005"], "tables": {"declarations": grown, "debts": table}}, snapshot) == snapshot
    assert kept_schema({"dialect": "sqlite", "revision": ["0005"], "tables": {"declarations": dict(table, columns=[dict(column, nullable=True)])}}, snapshot) != snapshot
    assert kept_schema({"dialect": "sqlite", "revision": ["0005"], "tables": {"declarations": table}}, dict(snapshot, revision=["9999"])) != dict(snapshot, revision=["9999"])
