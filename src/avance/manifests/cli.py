"""``avance manifests``: the write-off report of cargo reports and pre-loading referrals from the
command line (``write-off``, ``write-off-days``, ``refer``, ``referrals``, ``lift``).

The operator acts as an administrator (``avance.auth.cli.operator``). Errors end in one line on
stderr and exit code 2; ``--json`` prints one JSON object per line, for scripts.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError
from sqlalchemy import Connection, select

from avance.auth.cli import operator
from avance.kit.cli import AuthorOption, H, fail, headed_table, lang, number, open_store, out, parse_date, print_json, print_views
from avance.kit.errors import NotFound
from avance.kit.i18n import t
from avance.manifests import referrals, writeoff
from avance.manifests.model import FindingKind, ReferralKind, ReferralLift, ReferralRequest, ReferralState
from avance.manifests.tables import manifests
from avance.revenue.context import reference_context
from avance.store.engine import write

manifests_app = typer.Typer(help=H("manifests"), no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help=H("manifests.json"))]


def _day_start(value: str | None, option: str) -> datetime | None:
    day = parse_date(value, option)
    return None if day is None else datetime.combine(day, time.min, tzinfo=timezone.utc)


@manifests_app.command("write-off", help=H("manifests.write_off"))
def write_off(
    office: Annotated[Optional[str], typer.Option("--office", help=H("manifests.office"))] = None,
    manifest: Annotated[Optional[str], typer.Option("--manifest", help=H("manifests.manifest"))] = None,
    kind: Annotated[Optional[list[FindingKind]], typer.Option("--kind", help=H("manifests.kind"))] = None,
    arrived_from: Annotated[Optional[str], typer.Option("--arrived-from", help=H("manifests.arrived_from"))] = None,
    arrived_to: Annotated[Optional[str], typer.Option("--arrived-to", help=H("manifests.arrived_to"))] = None,
    raise_alerts: Annotated[bool, typer.Option("--raise-alerts", help=H("manifests.raise_alerts"))] = False,
    as_json: Json = False,
) -> None:
    """Bills not declared some days after arrival, over- and under-declared, consignee mismatches."""
    start = _day_start(arrived_from, "--arrived-from")
    end = _day_start(arrived_to, "--arrived-to")
    store = open_store()
    with write(store.engine) as conn:
        if raise_alerts:
            writeoff.raise_alerts(conn)
        found = writeoff.report(
            conn,
            operator(),
            office=office.strip().upper() if office else None,
            manifest_reference=manifest.strip() if manifest else None,
            kinds=kind,
            arrived_from=start,
            arrived_to=end + timedelta(days=1) if end is not None else None,
        )
    language = lang()
    views = [f | {"label": t(f"write_off.kind.{f['kind']}", language)} for f in found]
    if print_views(views, as_json=as_json, none="write_off.none"):
        return
    table = headed_table("kind", "manifest", "bill", "office", "due_by", "packages", "gross_mass", "declarations", "raised_at")
    for v in views:
        table.add_row(
            v["label"],
            v["manifest_reference"],
            v["transport_document_reference"],
            v["office_code"],
            v["due_by"][:10],
            f"{number(v['packages_declared'])} / {number(v['packages_on_bill'])}",
            f"{v['gross_mass_declared']} / {v['gross_mass_on_bill']}",
            number(v["declarations"]),
            (v["alerted_at"] or "")[:16],
        )
    out.print(table)
    out.print(t("write_off.count", language, count=len(views)), markup=False)


@manifests_app.command("write-off-days", help=H("manifests.write_off_days"))
def write_off_days(
    days: Annotated[Optional[int], typer.Option("--days", help=H("manifests.days"))] = None,
    office: Annotated[Optional[str], typer.Option("--office", help=H("manifests.days_office"))] = None,
) -> None:
    """Show the days after arrival before a bill not declared is reported, or set them (node or office)."""
    store = open_store()
    language = lang()
    if days is not None:
        with write(store.engine) as conn:
            writeoff.set_write_off_days(conn, reference_context(conn, store.settings), days, office.strip().upper() if office else None)
    with store.engine.connect() as conn:
        default, offices = writeoff.write_off_days(conn)
    out.print(t("write_off.days_node", language, days=default), markup=False)
    for code, value in sorted(offices.items()):
        out.print(t("write_off.days_office", language, office=code, days=value), markup=False)


def _manifest_id(conn: Connection, reference: str) -> int:
    found = conn.execute(select(manifests.c.id).where(manifests.c.reference == reference.strip())).scalar()
    if found is None:
        raise NotFound("not_found.manifest", id=reference)
    return int(found)


def _deadline(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(t("referral.bad_deadline", lang(), value=value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _print_referral(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    language = lang()
    line = t(
        "referral.line",
        language,
        id=view["id"],
        kind=t(f"referral.kind.{view['kind']}", language),
        bill=view["transport_document_reference"],
        reference=view["manifest_reference"],
        state=t(f"referral.state.{view['state']}", language),
        deadline=view["deadline"][:16],
    )
    out.print(line, markup=False)


@manifests_app.command("refer", help=H("manifests.refer"))
def refer(
    manifest: Annotated[str, typer.Argument(help=H("manifests.manifest"))],
    bill: Annotated[str, typer.Argument(help=H("manifests.bill"))],
    kind: Annotated[ReferralKind, typer.Option("--kind", help=H("manifests.referral_kind"))],
    reason: Annotated[str, typer.Option("--reason", help=H("manifests.reason"))],
    deadline: Annotated[Optional[str], typer.Option("--deadline", help=H("manifests.deadline"))] = None,
    author: AuthorOption = None,
    as_json: Json = False,
) -> None:
    """Refer a bill of lading of a cargo report filed before loading."""
    try:
        request = ReferralRequest(kind=kind, reason=reason, deadline=_deadline(deadline))
    except ValidationError:  # an empty or over-long reason
        fail(t("referral.bad_reason", lang()))
    with write(open_store().engine) as conn:
        view = referrals.refer(conn, _manifest_id(conn, manifest), bill.strip(), request, operator(author))
    _print_referral(view, as_json)


@manifests_app.command("referrals", help=H("manifests.referrals"))
def list_referrals(
    state: Annotated[Optional[ReferralState], typer.Option("--state", help=H("manifests.state"))] = None,
    kind: Annotated[Optional[ReferralKind], typer.Option("--kind", help=H("manifests.referral_kind"))] = None,
    manifest: Annotated[Optional[str], typer.Option("--manifest", help=H("manifests.manifest"))] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help=H("manifests.limit"))] = 100,
    as_json: Json = False,
) -> None:
    """Referrals, newest first."""
    with open_store().engine.connect() as conn:
        manifest_id = _manifest_id(conn, manifest) if manifest else None
        views, total = referrals.search(conn, operator(), state=state, kind=kind, manifest_id=manifest_id, limit=limit)
    if print_views(views, as_json=as_json, none="referral.none"):
        return
    language = lang()
    table = headed_table("id", "kind", "manifest", "bill", "state", "deadline")
    for v in views:
        table.add_row(
            str(v["id"]), t(f"referral.kind.{v['kind']}", language), v["manifest_reference"], v["transport_document_reference"], t(f"referral.state.{v['state']}", language), v["deadline"][:16]
        )
    out.print(table)
    out.print(t("referral.count", language, shown=len(views), total=total), markup=False)


@manifests_app.command("lift", help=H("manifests.lift"))
def lift(
    referral_id: Annotated[int, typer.Argument(min=1, help=H("manifests.referral_id"))],
    note: Annotated[Optional[str], typer.Option("--note", help=H("manifests.note"))] = None,
    author: AuthorOption = None,
    as_json: Json = False,
) -> None:
    """Lift a referral: nothing more is asked of the carrier; a do-not-load no longer blocks its bill."""
    try:
        lifting = ReferralLift(note=note)
    except ValidationError:  # an empty or over-long note
        fail(t("referral.bad_note", lang()))
    with write(open_store().engine) as conn:
        view = referrals.lift(conn, referral_id, lifting, operator(author))
    _print_referral(view, as_json)
