"""``avance users create|list|revoke|rotate-token|totp``: the people and programs that may call the
node; and who the command line acts as when it changes something (``operator``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

import sys

from avance.auth.model import Principal, Role
from avance.auth.service import create_user, list_users, revoke_user, rotate_token
from avance.auth.sessions import check_password_rules, enrol_totp, offices_of, set_offices, set_password
from avance.auth.totp import sealer
from avance.kit.cli import H, author, err, fail, headed_table, lang, open_store, out
from avance.kit.i18n import t
from avance.store import audit
from avance.store.engine import write

users_app = typer.Typer(help=H("users"), no_args_is_help=True)


def operator(author_option: str | None = None) -> Principal:
    """Who a command acts as: an administrator named by ``--author`` or the operating-system user
    (``avance.kit.cli.author``); whoever can run ``avance`` on the node's machine administers it."""
    return Principal(user_id=None, name=author(author_option), role=Role.ADMIN, via=f"cli:{author()}")  # via: who is at the keyboard


@users_app.command("create", help=H("users.create"))
def users_create(
    name: Annotated[str, typer.Option("--name", help=H("users.name"))],
    role: Annotated[Role, typer.Option("--role", help=H("users.role"))],
    party_id: Annotated[Optional[str], typer.Option("--party-id", help=H("users.party_id"))] = None,
    password: Annotated[bool, typer.Option("--password", help=H("users.password"))] = False,
    office: Annotated[Optional[list[str]], typer.Option("--office", help=H("users.office"))] = None,
) -> None:
    """Create a user and print its token once; with ``--password``, ask for a password too."""
    secret = read_password() if password else None
    store = open_store()
    with write(store.engine) as conn:
        _, token = create_user(conn, name=name, role=role, party_id=party_id, days=store.settings.token_days)
        if secret is not None:
            set_password(conn, name, secret)
        if office:
            set_offices(conn, name, office)
        audit.record(conn, operator(), "users.created", "user", name, after={"role": role.value, "party_id": party_id, "password": secret is not None, "offices": office or []})
    err.print(t("cli.token_once", lang(), name=name, role=role.value), markup=False)
    print(token)


def read_password() -> str:
    """A password typed twice without echo at a terminal, or the first line of standard input
    (scripts: ``printf '%s\n' "$PASSWORD" | avance users set-password --name ...``)."""
    if sys.stdin.isatty():
        first = typer.prompt(t("user.password_prompt", lang()), hide_input=True)
        second = typer.prompt(t("user.password_prompt", lang()), hide_input=True)
        if first != second:
            fail(t("user.password_mismatch", lang()))
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    check_password_rules(first)
    return first


@users_app.command("set-password", help=H("users.set_password"))
def users_set_password(name: Annotated[str, typer.Option("--name", help=H("users.revoke.name"))]) -> None:
    """Give a user a new password; the user's open sessions end."""
    secret = read_password()
    with write(open_store().engine) as conn:
        set_password(conn, name, secret)
        audit.record(conn, operator(), "users.password_set", "user", name)
    out.print(t("cli.password_set", lang(), name=name), markup=False)


@users_app.command("offices", help=H("users.offices"))
def users_offices(
    name: Annotated[str, typer.Option("--name", help=H("users.revoke.name"))],
    office: Annotated[list[str], typer.Option("--office", help=H("users.office"))],
) -> None:
    """Attach a user to exactly these offices (an officer works the queue of its offices)."""
    with write(open_store().engine) as conn:
        set_offices(conn, name, office)
        user_id = next(r["id"] for r in list_users(conn) if r["name"] == name)
        codes = offices_of(conn, user_id)
        audit.record(conn, operator(), "users.offices_set", "user", name, after={"offices": list(codes)})
    out.print(t("cli.offices_set", lang(), name=name, offices=", ".join(codes)), markup=False)


@users_app.command("revoke", help=H("users.revoke"))
def users_revoke(name: Annotated[str, typer.Option("--name", help=H("users.revoke.name"))]) -> None:
    """Revoke a user's token; the user keeps its history but can no longer call the API."""
    with write(open_store().engine) as conn:
        revoke_user(conn, name)
        audit.record(conn, operator(), "users.revoked", "user", name, after={"active": False})
    out.print(t("cli.user_revoked", lang(), name=name))


@users_app.command("rotate-token", help=H("users.rotate_token"))
def users_rotate_token(name: Annotated[str, typer.Option("--name", help=H("users.rotate_token.name"))]) -> None:
    """Give a user a new token, printed once; the old one stops working at once."""
    store = open_store()
    with write(store.engine) as conn:
        token = rotate_token(conn, name, days=store.settings.token_days)
        audit.record(conn, operator(), "users.token_rotated", "user", name, after={"days": store.settings.token_days})
    err.print(t("cli.token_rotated", lang(), name=name, days=store.settings.token_days), markup=False)
    print(token)


@users_app.command("totp", help=H("users.totp"))
def users_totp(name: Annotated[str, typer.Option("--name", help=H("users.totp.name"))]) -> None:
    """Enrol a user's second factor: print its secret and otpauth:// address once."""
    store = open_store()
    with write(store.engine) as conn:
        secret, uri = enrol_totp(conn, name, issuer=f"Avance {store.country}", sealer=sealer(store.settings.data_dir))
        audit.record(conn, operator(), "users.totp_enrolled", "user", name)
    err.print(t("cli.totp_once", lang(), name=name), markup=False)
    print(uri)
    print(secret)


@users_app.command("list", help=H("users.list"))
def users_list() -> None:
    """List users with their token's expiry and last use (tokens are never shown again)."""
    with open_store().engine.connect() as conn:
        rows = list_users(conn)
    table = headed_table("id", "name", "role", "party_id", "active", "created_at", "token_expires_at", "token_last_used_at", "totp")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["role"],
            r["party_id"] or "",
            str(r["active"]),
            r["created_at"].isoformat(),
            r["token_expires_at"].isoformat(timespec="minutes"),
            r["token_last_used_at"].isoformat(timespec="minutes") if r["token_last_used_at"] else "",
            str(bool(r["totp"])),
        )
    out.print(table)
