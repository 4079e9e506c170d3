"""A lodged declaration can never be deleted: no route, no command, no service removes one; what
an auditor would want back (valuation bounds, replaced rates) is kept in full in the audit trail."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import click
from fastapi import routing
from typer.main import get_command

import avance
from avance.__main__ import app as program
from avance.audit import service
from avance.audit.api import router as audit_router
from avance.bootstrap import load_rate_file
from avance.entrypoints.http import create_app
from avance.risk.valuation.model import Override
from avance.risk.valuation.service import import_overrides, remove_override, set_override
from avance.store.engine import write

DELETING = re.compile(r"delete|remove|purge|erase|drop|wipe|destroy|clear", re.IGNORECASE)


def _routes(node: Any) -> list[tuple[str, str]]:
    """Every route of the node's API and pages, documented or not, with its methods."""
    app = create_app(node)
    app.include_router(audit_router)
    # FastAPI from 0.16x keeps included routers nested; before, their routes were copied flat
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    return [(method, context.path) for context in contexts for method in (getattr(context, "methods", None) or ())]


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_no_route_and_no_command_deletes_a_declaration(trail_node):
    routes = _routes(trail_node)
    assert ("POST", "/declarations") in routes, "the route listing sees the declarations' routes"
    assert [(m, p) for m, p in routes if m == "DELETE" and "declaration" in p] == []
    assert [(m, p) for m, p in routes if "declaration" in p and DELETING.search(p)] == []
    commands = list(_commands(get_command(program)))
    assert ("declarations",) in commands, "the command listing sees the declarations' commands"
    assert [c for c in commands if any("declaration" in part or part in {"debts", "import"} for part in c) and any(DELETING.search(part) for part in c)] == []


def test_no_code_of_the_node_deletes_declarations_their_items_or_events():
    source = Path(avance.__file__).parent
    pattern = re.compile(r"delete\(\s*(declarations|goods_items|declaration_events|debts|audit_records|audit_signed_heads)\b|DELETE FROM (declarations|goods_items|declaration_events|audit_)", re.IGNORECASE)
    offenders = [str(p.relative_to(source)) for p in source.rglob("*.py") if "migrations" not in p.parts and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_a_removed_or_replaced_valuation_bound_is_kept_in_full_in_the_trail(node):
    bound = Override(hs_prefix="8703", origin="JP", minimum=Decimal("1500.5"), maximum=Decimal("9000"), valid_from=date(2026, 1, 1), author="fatou")
    with write(node.engine) as conn:
        stored, _ = set_override(conn, bound)
        set_override(conn, replace(bound, maximum=Decimal("9500")), actor="mamadou")
        remove_override(conn, int(stored.id), actor="mamadou")
    with node.engine.connect() as conn:
        trail = list(service.records(conn, service.Filters(object_type="valuation_override", object_id=str(stored.id))))
    assert [(r["action"], r["actor"]) for r in trail] == [("valuation_bound.set", "fatou"), ("valuation_bound.replaced", "mamadou"), ("valuation_bound.removed", "mamadou")]
    assert trail[1]["before_doc"]["maximum"] == "9000" and trail[1]["after_doc"]["maximum"] == "9500"
    removed = trail[2]["before_doc"]
    assert (removed["hs_prefix"], removed["origin"], removed["minimum"], removed["maximum"], removed["valid_from"]) == ("8703", "JP", "1500.5", "9500", "2026-01-01")


def test_a_file_that_replaces_every_bound_keeps_each_one_in_the_trail(node):
    with write(node.engine) as conn:
        for hs in ("6109", "6110"):
            set_override(conn, Override(hs_prefix=hs, maximum=Decimal("100"), author="fatou"))
        import_overrides(conn, [Override(hs_prefix="8703", maximum=Decimal("5"), author="fatou")], replace_all=True, actor="fatou")
    with node.engine.connect() as conn:
        removed = [r["before_doc"]["hs_prefix"] for r in service.records(conn, service.Filters(action="valuation_bound.removed"))]
    assert sorted(removed) == ["6109", "6110"]


def test_a_replaced_exchange_rate_is_kept_in_full_in_the_trail(node, tmp_path: Path):
    rates = tmp_path / "rates.csv"
    rates.write_text("currency,valid_from,rate\nUSD,2026-11-02,601.5\nCNY,2026-11-02,84.5\n", encoding="utf-8")
    load_rate_file(node.engine, rates, "moussa")
    rates.write_text("currency,valid_from,rate\nUSD,2026-11-02,603\nCNY,2026-11-02,84.5\n", encoding="utf-8")
    load_rate_file(node.engine, rates, "moussa")
    with node.engine.connect() as conn:
        trail = list(service.records(conn, service.Filters(object_type="exchange_rate", object_id="USD:2026-11-02")))
    assert [r["action"] for r in trail] == ["rate.stored", "rate.replaced"]
    assert trail[1]["before_doc"]["rate"] == "601.5" and trail[1]["after_doc"]["rate"] == "603" and trail[1]["actor"] == "moussa"
    with node.engine.connect() as conn:  # the unchanged CNY rate: recorded once, when it was new
        assert len(list(service.records(conn, service.Filters(object_type="exchange_rate", object_id="CNY:2026-11-02")))) == 1
