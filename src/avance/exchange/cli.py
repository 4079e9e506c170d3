"""``avance exchange ...`` and ``avance partners ...``: identity, keys, partners, queues, self-test."""

from __future__ import annotations

import json
from dataclasses import asdict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from avance.auth.cli import operator
from avance.kit.cli import H, headed_table, lang, number, open_store, out
from avance.kit.i18n import t
from avance.store import audit
from avance.store.engine import write

exchange_app = typer.Typer(help=H("exchange"), no_args_is_help=True)
partners_app = typer.Typer(help=H("partners"), no_args_is_help=True)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{number(seconds // 3600)} h {seconds % 3600 // 60:02d}"


# --- identity and keys -----------------------------------------------------------------------------


@exchange_app.command("init", help=H("exchange.init"))
def exchange_init(node_id: Annotated[str, typer.Option("--node-id", help=H("exchange.node_id"))]) -> None:
    from avance.exchange import keys  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        key = keys.init(conn, node.settings.data_dir, node_id)
        audit.record(conn, operator(), "exchange_key.initialised", "exchange_key", key.kid, after={"node_id": node_id, "public_key": key.public_key})
    out.print(t("exchange.cli.initialised", lang(), node_id=node_id, kid=key.kid), markup=False)


def _identity(node: Any) -> dict[str, Any]:
    from avance.exchange import keys  # loads when the command runs: start-up time

    with node.engine.connect() as conn:
        node_id = keys.node_id(conn)
        current = keys.current_key(conn)
        grace = keys.grace_key(conn)
    data = {"node_id": node_id, "country": node.country, "kid": current.kid, "public_key": keys.public_key_base64(current), "alg": "EdDSA"}
    if grace is not None:
        data["previous"] = {"kid": grace.kid, "public_key": keys.public_key_base64(grace), "usable_until": grace.expires_at.isoformat() if grace.expires_at else None}
    return data


@exchange_app.command("identity", help=H("exchange.identity"))
def exchange_identity(as_json: Annotated[bool, typer.Option("--json", help=H("exchange.json"))] = False) -> None:
    data = _identity(open_store())
    if as_json:
        print(json.dumps(data))
        return
    table = headed_table("node_id", "country", "kid", "public_key", show_lines=False)
    table.add_row(data["node_id"], data["country"], data["kid"], data["public_key"])
    if "previous" in data:
        table.add_row("", "", data["previous"]["kid"] + " (→ " + str(data["previous"]["usable_until"])[:16] + ")", data["previous"]["public_key"])
    out.print(table)
    print(f"avance partners add --node-id {data['node_id']} --country {data['country']} --endpoint URL --public-key {data['public_key']}")


@exchange_app.command("rotate-key", help=H("exchange.rotate_key"))
def exchange_rotate_key(grace_days: Annotated[float, typer.Option("--grace-days", min=0, max=90, help=H("exchange.grace_days"))] = 7) -> None:
    from datetime import timedelta

    from avance.exchange import keys  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        old = keys.current_key(conn)
        new = keys.rotate(conn, node.settings.data_dir, timedelta(days=grace_days))
        audit.record(conn, operator(), "exchange_key.rotated", "exchange_key", new.kid, before={"kid": old.kid}, after={"kid": new.kid, "public_key": new.public_key, "grace_days": grace_days})
        until = keys.grace_key(conn)
    out.print(
        t(
            "exchange.cli.rotated",
            lang(),
            kid=new.kid,
            old=old.kid,
            until=(until.expires_at.isoformat(timespec="minutes") if until and until.expires_at else "-"),
            public_key=keys.public_key_base64(new),
        ),
        markup=False,
        soft_wrap=True,
    )


@exchange_app.command("protect-keys", help=H("exchange.protect_keys"))
def exchange_protect_keys(
    old_passphrase_file: Annotated[Optional[Path], typer.Option("--old-passphrase-file", exists=True, dir_okay=False, help=H("exchange.old_passphrase_file"))] = None,
) -> None:
    from avance.exchange import keys  # loads when the command runs: start-up time

    node = open_store()
    old = None
    if old_passphrase_file is not None:
        old = keys.passphrase(node.settings.model_copy(update={"key_passphrase_file": old_passphrase_file}))
    count, already = keys.protect(node.settings.data_dir, keys.passphrase(node.settings), old)
    out.print(t("exchange.cli.keys_protected", lang(), count=count, already=already), markup=False)


def _read(fetch: Callable[[Any], Any]) -> Any:
    """What ``fetch(conn)`` reads from this node's database."""
    node = open_store()
    with node.engine.connect() as conn:
        return fetch(conn)


def _printed(as_json: bool, document: Any, items: Any, empty_key: str) -> bool:
    """Print ``document`` as JSON, or say there is nothing; False when a table is still to show."""
    if as_json:
        print(json.dumps(document))
        return True
    if not items:
        out.print(t(empty_key, lang()), markup=False)
        return True
    return False


# --- queues ----------------------------------------------------------------------------------------


@exchange_app.command("status", help=H("exchange.status"))
def exchange_status(as_json: Annotated[bool, typer.Option("--json", help=H("exchange.json"))] = False) -> None:
    from avance.exchange.status import report  # loads when the command runs: start-up time

    data = _read(report)
    if _printed(as_json, data, data["partners"], "exchange.cli.no_partners"):
        return
    table = headed_table("partner", "queue", "oldest_pending", "last_success", "dead_letters", "rejected", "received", "last_error")
    table.columns[0].no_wrap = True
    for p in data["partners"]:
        error = ""
        if p["last_error"] and (p["last_success_at"] is None or (p["last_error_at"] or "") > p["last_success_at"]):
            error = f"{(p['last_error_at'] or '')[:19]} {p['last_error'][:80]}"
        table.add_row(
            f"{p['node_id']} ({p['country']})",
            number(p["queue_depth"]),
            _age(p["oldest_pending_seconds"]),
            (p["last_success_at"] or "")[:19],
            number(p["dead_letters"]),
            number(p["rejected"]),
            f"{number(p['inbound']['applied'])} (+{number(p['inbound']['duplicates'])})",
            error,
        )
    out.print(table)
    if data["rejections"]:
        out.print(", ".join(f"{code}: {n}" for code, n in data["rejections"].items()), markup=False)


@exchange_app.command("requeue", help=H("exchange.requeue"))
def exchange_requeue(
    partner: Annotated[Optional[str], typer.Option("--partner", help=H("exchange.partner"))] = None,
    message_id: Annotated[Optional[str], typer.Option("--message-id", help=H("exchange.message_id"))] = None,
    include_rejected: Annotated[bool, typer.Option("--include-rejected", help=H("exchange.include_rejected"))] = False,
) -> None:
    from avance.exchange import outbox, partners  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        if partner is not None:
            partners.get(conn, partner)
        count = outbox.requeue(conn, partner=partner, message_id=message_id, include_rejected=include_rejected)
    out.print(t("exchange.cli.requeued", lang(), count=count), markup=False)


@exchange_app.command("alerts", help=H("exchange.alerts"))
def exchange_alerts(as_json: Annotated[bool, typer.Option("--json", help=H("exchange.json"))] = False) -> None:
    from avance.exchange.status import alerts  # loads when the command runs: start-up time

    found = _read(alerts)
    if _printed(as_json, found, found, "exchange.cli.no_alerts"):
        return
    table = headed_table("id", "raised_at", "kind", "partner", "detail")
    for a in found:
        table.add_row(str(a["id"]), a["raised_at"][:19], a["kind"], a["partner"] or "", json.dumps(a["detail"])[:120])
    out.print(table)


# --- partners --------------------------------------------------------------------------------------


@partners_app.command("add", help=H("partners.add"))
def partners_add(
    node_id: Annotated[str, typer.Option("--node-id", help=H("partners.node_id"))],
    country: Annotated[str, typer.Option("--country", help=H("partners.country"))],
    endpoint: Annotated[str, typer.Option("--endpoint", help=H("partners.endpoint"))],
    public_key: Annotated[str, typer.Option("--public-key", help=H("partners.public_key"))],
    kid: Annotated[Optional[str], typer.Option("--kid", help=H("partners.kid"))] = None,
) -> None:
    from avance.exchange import partners  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        partner = partners.add(conn, node_id=node_id, country=country, endpoint=endpoint, public_key=public_key, kid=kid)
        audit.record(conn, operator(), "partner.added", "partner", node_id, after=asdict(partner))
    out.print(t("partners.cli.added", lang(), node_id=partner.node_id, country=partner.country, endpoint=partner.endpoint, kid=partner.keys[0].kid), markup=False)


@partners_app.command("list", help=H("partners.list"))
def partners_list(as_json: Annotated[bool, typer.Option("--json", help=H("exchange.json"))] = False) -> None:
    from avance.exchange import partners  # loads when the command runs: start-up time

    found = _read(partners.list_partners)
    document = [{"node_id": p.node_id, "country": p.country, "endpoint": p.endpoint, "keys": [{"kid": k.kid, "public_key": k.public_key} for k in p.keys]} for p in found]
    if _printed(as_json, document, found, "partners.cli.none"):
        return
    table = headed_table("node_id", "country", "endpoint", "keys", "added_at")
    for p in found:
        table.add_row(p.node_id, p.country, p.endpoint, "\n".join(k.kid for k in p.keys), p.added_at.isoformat(timespec="seconds"))
    out.print(table)


@partners_app.command("remove", help=H("partners.remove"))
def partners_remove(
    node_id: Annotated[str, typer.Option("--node-id", help=H("partners.node_id"))],
    force: Annotated[bool, typer.Option("--force", help=H("partners.force"))] = False,
) -> None:
    from avance.exchange import partners  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        before = asdict(partners.get(conn, node_id))
        count = partners.remove(conn, node_id, force=force)
        audit.record(conn, operator(), "partner.removed", "partner", node_id, before=before, after={"dead_lettered": count})
    out.print(t("partners.cli.removed", lang(), node_id=node_id, count=count), markup=False)


@partners_app.command("update", help=H("partners.update"))
def partners_update(
    node_id: Annotated[str, typer.Option("--node-id", help=H("partners.node_id"))],
    endpoint: Annotated[str, typer.Option("--endpoint", help=H("partners.endpoint"))],
) -> None:
    from avance.exchange import partners  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        before = asdict(partners.get(conn, node_id))
        partner = partners.update_endpoint(conn, node_id, endpoint)
        audit.record(conn, operator(), "partner.endpoint_changed", "partner", node_id, before=before, after=asdict(partner))
    out.print(t("partners.cli.updated", lang(), node_id=node_id, endpoint=partner.endpoint), markup=False)


@partners_app.command("add-key", help=H("partners.add_key"))
def partners_add_key(
    node_id: Annotated[str, typer.Option("--node-id", help=H("partners.node_id"))],
    public_key: Annotated[str, typer.Option("--public-key", help=H("partners.public_key"))],
    kid: Annotated[Optional[str], typer.Option("--kid", help=H("partners.kid"))] = None,
) -> None:
    from avance.exchange import keys, partners  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        before = asdict(partners.get(conn, node_id))
        partner = partners.add_key(conn, node_id, public_key, kid)
        audit.record(conn, operator(), "partner.key_added", "partner", node_id, before=before, after=asdict(partner))
    added = kid or keys.thumbprint(keys.parse_public_key(public_key))
    out.print(t("partners.cli.key_added", lang(), node_id=node_id, kid=added, kids=[k.kid for k in partner.keys]), markup=False)


@partners_app.command("remove-key", help=H("partners.remove_key"))
def partners_remove_key(
    node_id: Annotated[str, typer.Option("--node-id", help=H("partners.node_id"))],
    kid: Annotated[str, typer.Option("--kid", help=H("partners.kid"))],
) -> None:
    from avance.exchange import partners  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        before = asdict(partners.get(conn, node_id))
        partner = partners.remove_key(conn, node_id, kid)
        audit.record(conn, operator(), "partner.key_removed", "partner", node_id, before=before, after=asdict(partner))
    out.print(t("partners.cli.key_removed", lang(), node_id=node_id, kid=kid, kids=[k.kid for k in partner.keys]), markup=False)
