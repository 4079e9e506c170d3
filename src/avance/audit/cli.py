"""``avance audit verify|show|export|sign``: check the audit trail, read it, hand it to an auditor,
sign its head now.

Verifying and signing need the node's exchange keys, which the audit trail cannot import (the
exchange is above it): the group is made by ``make_audit_app`` with a function giving the keyring
for the node's settings (the command line passes ``avance.bootstrap.audit_keyring``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from avance.audit import service
from avance.kit.cli import H, err, fail, headed_table, lang, open_store, out, print_views
from avance.kit.i18n import t
from avance.kit.settings import Settings
from avance.store.engine import write

KeyringFor = Callable[[Settings], service.Keyring]


def parse_moment(value: str | None, option: str, *, end: bool = False) -> datetime | None:
    """A date (the day's start; with ``end``, the next day's start, so that the day is included)
    or an ISO 8601 date and time (UTC when it gives no offset)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), tzinfo=timezone.utc)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(t("audit.bad_moment", lang(), option=option, value=value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def filters(actor: str | None, obj: str | None, action: str | None, since: str | None, until: str | None) -> service.Filters:
    object_type, _, object_id = (obj or "").partition(":")
    return service.Filters(
        actor=actor,
        object_type=object_type or None,
        object_id=object_id or None,
        action=action,
        since=parse_moment(since, "--since"),
        until=parse_moment(until, "--until", end=True),
    )


ActorOption = Annotated[Optional[str], typer.Option("--actor", help=H("audit.actor"))]
ObjectOption = Annotated[Optional[str], typer.Option("--object", help=H("audit.object"))]
ActionOption = Annotated[Optional[str], typer.Option("--action", help=H("audit.action"))]
SinceOption = Annotated[Optional[str], typer.Option("--since", help=H("audit.since"))]
UntilOption = Annotated[Optional[str], typer.Option("--until", help=H("audit.until"))]


def message(problem: service.Problem) -> str:
    return t(problem.code, lang(), **problem.params)


def make_audit_app(keyring_for: KeyringFor) -> typer.Typer:
    """The ``avance audit`` group, verifying and signing with the keyring ``keyring_for`` gives."""
    app = typer.Typer(help=H("audit"), no_args_is_help=True)

    @app.command("verify", help=H("audit.verify"))
    def verify(heads: Annotated[Optional[Path], typer.Option("--heads", help=H("audit.verify.heads"))] = None) -> None:
        """Check the chain and the signed heads; exit code 1 naming the first bad record."""
        trusted: list[dict] = []
        if heads is not None:
            if not heads.is_file():
                fail(t("cli.no_such_file", lang(), path=heads))
            with heads.open("rb") as handle:
                trusted = service.read_heads(handle)
        store = open_store()
        keyring = keyring_for(store.settings)
        with store.engine.connect() as conn:
            result = service.verify(conn, keyring.public_keys(conn), trusted)
        if result.problem is not None:
            err.print(t("audit.unsound", lang(), seq=result.problem.seq, message=message(result.problem)), markup=False)
            raise typer.Exit(1)
        out.print(t("audit.sound", lang(), records=result.records, last=result.last_seq, heads=result.signed_heads), markup=False)
        if result.last_signed_seq is None:
            out.print(t("audit.never_signed", lang()), markup=False)
        elif result.unsigned:
            out.print(t("audit.unsigned_tail", lang(), count=result.unsigned, seq=result.last_signed_seq, at=result.last_signed_at), markup=False)

    @app.command("show", help=H("audit.show"))
    def show(
        actor: ActorOption = None,
        obj: ObjectOption = None,
        action: ActionOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help=H("audit.limit"))] = 50,
        as_json: Annotated[bool, typer.Option("--json", help=H("audit.json"))] = False,
    ) -> None:
        """The latest records that match, newest first."""
        chosen = filters(actor, obj, action, since, until)
        with open_store().engine.connect() as conn:
            rows, total = service.search(conn, chosen, limit=limit)
        if print_views(rows, as_json=as_json, none="audit.none"):
            return
        table = headed_table("audit_seq", "at", "audit_actor", "audit_via", "audit_action", "audit_object", "change")
        for r in rows:
            who = f"{r['actor']} ({r['role']})" if r["role"] else r["actor"]
            where = f"{r['via']} {r['address']}" if r["address"] else (r["via"] or "")
            change = f"{(r['before_digest'] or '-')[:10]} → {(r['after_digest'] or '-')[:10]}"
            table.add_row(str(r["seq"]), r["at"][:19].replace("T", " "), who, where, r["action"], f"{r['object_type']}:{r['object_id']}", change)
        out.print(table)
        if total > len(rows):
            out.print(t("audit.more", lang(), shown=len(rows), total=total), markup=False)

    @app.command("export", help=H("audit.export"))
    def export(
        file: Annotated[Path, typer.Argument(help=H("audit.export.file"))],
        heads: Annotated[bool, typer.Option("--heads", help=H("audit.export.heads"))] = False,
        actor: ActorOption = None,
        obj: ObjectOption = None,
        action: ActionOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
    ) -> None:
        """Write the records (or, with ``--heads``, the signed heads) as JSON Lines."""
        chosen = filters(actor, obj, action, since, until)
        count = 0
        with open_store().engine.connect() as conn, file.open("wb") as handle:
            items = service.signed_heads(conn) if heads else service.records(conn, chosen)
            for line in service.jsonl(items):
                handle.write(line)
                count += 1
        out.print(t("audit.exported_heads" if heads else "audit.exported", lang(), count=count, path=file), markup=False)

    @app.command("sign", help=H("audit.sign"))
    def sign() -> None:
        """Sign the chain's head now with the node's exchange key."""
        store = open_store()
        keyring = keyring_for(store.settings)
        with write(store.engine) as conn:
            head = service.sign(conn, keyring)
        out.print(t("audit.signed", lang(), seq=head["seq"], hash=head["hash"][:16], kid=head["kid"]), markup=False)

    return app
