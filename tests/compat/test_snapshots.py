"""What partners and users built on stays where it was: the snapshots in ``snapshots/`` record it.

Each test reads the current code the way ``make_snapshots.py`` does and compares it with the
stored snapshot, made from the code before the re-layout into capability packages. A difference
is a regression to fix, unless it is a deliberate change that is announced in the release notes;
only then is the snapshot regenerated (see ``make_snapshots.py``).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest

from tests.compat import extract, make_snapshots


def assert_unchanged(name: str, current: Any) -> None:
    """Fail with the difference, as a diff of the snapshot file, when ``current`` is not the snapshot."""
    path = make_snapshots.snapshot_path(name)
    recorded = json.loads(path.read_text(encoding="utf-8"))
    if current == recorded:
        return
    diff = difflib.unified_diff(
        extract.dumps(recorded).splitlines(), extract.dumps(current).splitlines(), f"snapshot {path.name}", "current code", lineterm="", n=2
    )
    pytest.fail(
        f"{path.name} no longer matches the code. Users or partners depend on this: fix the regression, or, for a "
        "deliberate and announced change, regenerate with tests/compat/make_snapshots.py.\n" + "\n".join(diff),
        pytrace=False,
    )


def test_the_migrations_build_the_schema_operators_databases_already_have(store_url):
    """A database migrated by this release has the tables, columns, types, nullability, keys,
    indexes, unique constraints and foreign keys recorded (on SQLite and on PostgreSQL), and the
    same migration revision as a node on the previous release: an operator's existing database is
    recognised and upgraded in place, and the reports and scripts IT teams run against it keep
    working."""
    schema = make_snapshots.database(store_url)
    assert_unchanged(f"database-{schema['dialect']}", schema)


def test_a_partner_node_on_the_previous_release_still_validates_our_messages():
    """A partner administration validates our messages with the JSON Schema files it downloaded
    (the envelope and the six business payloads), and we validate theirs with the same models:
    neither the files nor the models' schemas (what we accept, what we send) have moved."""
    assert_unchanged("exchange-schemas", make_snapshots.exchange_schemas())


def test_broker_systems_and_partner_nodes_find_every_http_route_where_it_was(sqlite_node):
    """Brokers' software, single-window integrations and partner nodes call the API by method and
    path: every one of them still answers (paths and methods only; the documentation of the
    responses may improve)."""
    assert_unchanged("http-routes", make_snapshots.http_routes(sqlite_node))


def test_operators_scripts_still_call_every_command_with_the_same_options():
    """IT teams run ``avance`` from cron jobs, deployment scripts and runbooks: every command and
    group (``avance exchange selftest``, ``avance model demo-data``...) keeps its path, its
    arguments and option names, and what is required stays required (and nothing more is)."""
    assert_unchanged("commands", make_snapshots.commands())


def test_a_deployed_node_keeps_its_configuration_variables_and_defaults():
    """A node is configured by ``AVANCE_*`` variables in its service file or ``.env``: every
    variable is still read under the same name, and an unset one still means the same default
    (a tolerance, a deadline, where the data lives)."""
    assert_unchanged("environment", make_snapshots.environment())
