"""``avance matching`` and ``avance transit``: mirror control and transit movements from the command line.

Errors end in one line on stderr and exit code 2. Tables show amounts in the operator's language;
``--json`` prints one JSON object per line with plain decimal strings, for scripts.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from avance.kit.cli import H, headed_table, lang, money, number, open_store, out, parse_date, print_json, print_views
from avance.kit.i18n import t
from avance.kit.money import is_currency
from avance.revenue.context import reference_context
from avance.store.engine import write

transit_app = typer.Typer(help=H("transit"), no_args_is_help=True)
matching_app = typer.Typer(help=H("matching"), no_args_is_help=True)


class OutcomeChoice(str, Enum):
    pending = "pending"
    conforme = "conforme"
    non_conforme = "non_conforme"
    non_retrouvee = "non_retrouvee"


class DirectionChoice(str, Enum):
    received = "received"
    sent = "sent"


class StatusChoice(str, Enum):
    registered = "registered"
    in_transit = "in_transit"
    arrived = "arrived"
    discharged = "discharged"
    overdue = "overdue"


class RoleChoice(str, Enum):
    departure = "departure"
    en_route = "en_route"
    destination = "destination"


MatchingJson = Annotated[bool, typer.Option("--json", help=H("matching.json"))]
TransitJson = Annotated[bool, typer.Option("--json", help=H("transit.json"))]
MatchingLimit = Annotated[int, typer.Option("--limit", min=1, max=10_000, help=H("matching.limit"))]
TransitLimit = Annotated[int, typer.Option("--limit", min=1, max=10_000, help=H("transit.limit"))]


def _shown(text: str | None, unit: str | None = None) -> str:
    """A decimal of a view (plain text, as in the JSON) in the operator's language: an amount with
    its currency's minor units when ``unit`` is a currency; anything else as it is."""
    if not text:
        return ""
    try:
        value = Decimal(text)
    except InvalidOperation:  # "?" or "-": nothing known
        return text
    return money(value, unit) if unit and is_currency(unit) else number(value)


# --- matching ---------------------------------------------------------------------------------


@matching_app.command("list", help=H("matching.list"))
def matching_list(
    outcome: Annotated[Optional[OutcomeChoice], typer.Option("--outcome", help=H("matching.outcome"))] = None,
    direction: Annotated[Optional[DirectionChoice], typer.Option("--direction", help=H("matching.direction"))] = None,
    limit: MatchingLimit = 50,
    as_json: MatchingJson = False,
) -> None:
    # loads when the command runs: start-up time
    from avance.movements.matching import service as matching_service, views as matching_views

    node = open_store()
    with node.engine.connect() as conn:
        rows, total = matching_service.search(conn, outcome=outcome.value if outcome else None, direction=direction.value if direction else None, page_size=limit)
    language = lang()
    if as_json:
        for row in rows:
            print_json(matching_views.summary(row, language))
        return
    if not rows:
        out.print(t("matching.none", language), markup=False)
        return
    table = headed_table("id", "direction", "partner", "export", "date", "outcome", "declaration", "value_gap_percent", "revenue_gap")
    for r in rows:
        view = matching_views.summary(r, language)
        table.add_row(
            str(view["id"]),
            view["direction"],
            view["partner"],
            f"{view['exporting_country']} {view['export_reference']}",
            view["export_date"],
            view["outcome_label"],
            str(view["declaration_id"] or ""),
            _shown(view["value_gap_percent"]),
            f"{_shown(view['revenue_gap'], view['currency'])} {view['currency']}" if view["revenue_gap"] is not None else "",
        )
    out.print(table)
    out.print(t("movements.shown", language, shown=len(rows), total=total), markup=False)


@matching_app.command("show", help=H("matching.show"))
def matching_show(notice_id: Annotated[int, typer.Argument(min=1, help=H("matching.id"))], as_json: MatchingJson = False) -> None:
    # loads when the command runs: start-up time
    from avance.movements.matching import model as matching_model, service as matching_service, views as matching_views

    node = open_store()
    language = lang()
    with node.engine.connect() as conn:
        view = matching_views.notice_view(matching_service.get_notice(conn, notice_id), language, matching_model.policy_from(node.settings))
    if as_json:
        print_json(view)
        return
    out.print(
        t(
            "matching.show_head",
            language,
            id=view["id"],
            reference=view["export_reference"],
            country=view["exporting_country"],
            outcome=view["outcome_label"],
            partner=view["partner"],
        ),
        markup=False,
    )
    if view["declaration_id"] is not None:
        out.print(t("matching.show_declaration", language, id=view["declaration_id"], reference=view["import_reference"] or ""), markup=False)
    if view.get("deadline"):
        out.print(t("matching.show_deadline", language, deadline=view["deadline"]), markup=False)
    if view["exported_value"] is not None:
        out.print(
            t(
                "matching.show_values",
                language,
                exported=_shown(view["exported_value"], view["currency"]),
                declared=_shown(view["declared_value"], view["currency"]),
                percent=_shown(view["value_gap_percent"]),
                currency=view["currency"],
            ),
            markup=False,
        )
    if view["revenue_gap"] is not None:
        out.print(t("matching.show_revenue", language, amount=_shown(view["revenue_gap"], view["currency"]), currency=view["currency"]), markup=False)
    if view["gaps"]:
        table = headed_table("gap", "export_item", "import_item", "exported", "declared", "percent")
        for g in view["gaps"]:
            table.add_row(
                g["label"],
                str(g.get("export_item") or ""),
                str(g.get("import_item") or ""),
                f"{_shown(g.get('exported'), g.get('unit'))} {g.get('unit') or ''}".strip(),
                f"{_shown(g.get('declared'), g.get('unit'))} {g.get('unit') or ''}".strip(),
                _shown(g.get("difference_percent")),
            )
        out.print(table)
    for note in view["notes"]:
        out.print(note, markup=False)


@matching_app.command("sweep", help=H("matching.sweep"))
def matching_sweep(
    days: Annotated[Optional[int], typer.Option("--days", min=0, max=3650, help=H("matching.days"))] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help=H("matching.as_of"))] = None,
) -> None:
    # loads when the command runs: start-up time
    from avance.movements.matching import model as matching_model, service as matching_service

    today = parse_date(as_of, "--as-of") or datetime.now(timezone.utc).date()
    node = open_store()
    policy = matching_model.policy_from(node.settings)
    with write(node.engine) as conn:
        marked = matching_service.sweep(conn, reference_context(conn, node.settings), today=today, days=days, policy=policy)
    out.print(t("matching.swept", lang(), count=len(marked), days=policy.deadline_days if days is None else days, date=today.isoformat()), markup=False)


# --- transit ---------------------------------------------------------------------------------------


def _transit_table(views: list[dict[str, Any]]) -> Table:
    table = headed_table("mrn", "role", "status", "departure", "destination", "principal", "guarantee", "time_limit")
    for v in views:
        status = v["status_label"] + (f" ({t('transit.status.overdue', lang())})" if v["overdue"] else "")
        g = v["guarantee"]
        table.add_row(
            v["mrn"],
            v["role_label"],
            status,
            v["departure_office"],
            v["destination_office"],
            v["principal_id"],
            f"{g['reference']} {_shown(g['amount'], g['currency'])} {g['currency']}",
            v["time_limit"],
        )
    return table


@transit_app.command("list", help=H("transit.list"))
def transit_list(
    status: Annotated[Optional[StatusChoice], typer.Option("--status", help=H("transit.status"))] = None,
    role: Annotated[Optional[RoleChoice], typer.Option("--role", help=H("transit.role"))] = None,
    principal: Annotated[Optional[str], typer.Option("--principal", help=H("transit.principal"))] = None,
    limit: TransitLimit = 50,
    as_json: TransitJson = False,
) -> None:
    # loads when the command runs: start-up time
    from avance.movements.transit import service as transit_service, views as transit_views

    node = open_store()
    with node.engine.connect() as conn:
        rows, total = transit_service.search(conn, status=status.value if status else None, role=role.value if role else None, principal_id=principal, page_size=limit)
    language = lang()
    views = [transit_views.summary(r, language) for r in rows]
    if print_views(views, as_json=as_json, none="transit.none"):
        return
    out.print(_transit_table(views))
    out.print(t("movements.shown", language, shown=len(views), total=total), markup=False)


@transit_app.command("show", help=H("transit.show"))
def transit_show(mrn: Annotated[str, typer.Argument(help=H("transit.mrn"))], as_json: TransitJson = False) -> None:
    # loads when the command runs: start-up time
    from avance.movements.transit import service as transit_service, views as transit_views

    node = open_store()
    language = lang()
    with node.engine.connect() as conn:
        row, events, alert = transit_service.get(conn, mrn.strip().upper())
    view = transit_views.detail(row, events, alert, language)
    if as_json:
        print_json(view)
        return
    out.print(_transit_table([view]))
    table = headed_table("event", "office", "country", "at", "node")
    for e in view["events"]:
        table.add_row(e["label"], e["office_code"], e["country"], e["at"], e["source_node"] or "")
    out.print(table)
    if view["guarantee_released_at"]:
        out.print(t("transit.released_at", language, at=view["guarantee_released_at"]), markup=False)
    if view["alert"]:
        out.print(t("transit.alert_line", language, label=view["alert"]["label"], at=view["alert"]["raised_at"]), markup=False)


@transit_app.command("overdue", help=H("transit.overdue"))
def transit_overdue(as_json: TransitJson = False) -> None:
    # loads when the command runs: start-up time
    from avance.movements.transit import service as transit_service, views as transit_views

    node = open_store()
    language = lang()
    with write(node.engine) as conn:
        raised = transit_service.raise_overdue_alerts(conn)
        rows = transit_service.overdue(conn)
    views = [transit_views.summary(r, language) for r in rows]
    if as_json:
        for view in views:
            print_json(view | {"alert_raised_now": view["mrn"] in raised})
        return
    if not views:
        out.print(t("transit.none_overdue", language), markup=False)
        return
    out.print(_transit_table(views))
    out.print(t("transit.alerts_raised", language, count=len(raised), total=len(views)), markup=False)


@transit_app.command("pending", help=H("transit.pending"))
def transit_pending(
    everything: Annotated[bool, typer.Option("--all", help=H("transit.pending_all"))] = False,
    as_json: TransitJson = False,
) -> None:
    # loads when the command runs: start-up time
    from avance.movements.transit import service as transit_service, views as transit_views

    node = open_store()
    language = lang()
    with node.engine.connect() as conn:
        rows = transit_service.pending_notifications(conn, state=None if everything else "pending")
    views = [transit_views.pending_view(r, language) for r in rows]
    if print_views(views, as_json=as_json, none="transit.pending.none"):
        return
    table = Table(*(t(f"transit.pending.col.{c}", language) for c in ("mrn", "kind", "office", "sender", "received_at", "state", "code")))
    for v in views:
        table.add_row(v["mrn"], v["kind_label"], v["office_code"], v["sender"], v["received_at"], v["state_label"], v["code"] or "")
    out.print(table)


@transit_app.command("guarantees", help=H("transit.guarantees"))
def transit_guarantees(
    principal: Annotated[Optional[str], typer.Option("--principal", help=H("transit.principal"))] = None,
    as_json: TransitJson = False,
) -> None:
    # loads when the command runs: start-up time
    from avance.movements.transit import service as transit_service

    node = open_store()
    with node.engine.connect() as conn:
        balances = transit_service.guarantee_balances(conn, principal_id=principal)
    if as_json:
        for b in balances:
            print_json(b.to_dict())
        return
    if not balances:
        out.print(t("transit.no_guarantee_held", lang()), markup=False)
        return
    table = headed_table("principal", "name", "guarantee", "held", "currency", "open_movements")
    for b in balances:
        table.add_row(b.principal_id, b.principal_name, b.guarantee_reference, money(b.held, b.currency), b.currency, number(b.open_movements))
    out.print(table)
