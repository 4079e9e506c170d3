"""``avance users create|list|revoke``: the people and programs that may call the node; and who
the command line acts as when it changes something (``operator``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from avance.auth.model import Principal, Role
from avance.auth.service import create_user, list_users, revoke_user
from avance.kit.cli import H, author, err, headed_table, lang, open_store, out
from avance.kit.i18n import t
from avance.store.engine import write

users_app = typer.Typer(help=H("users"), no_args_is_help=True)


def operator(author_option: str | None = None) -> Principal:
    """Who a command acts as: an administrator named by ``--author`` or the operating-system user
    (``avance.kit.cli.author``); whoever can run ``avance`` on the node's machine administers it."""
    return Principal(user_id=None, name=author(author_option), role=Role.ADMIN)


@users_app.command("create", help=H("users.create"))
def users_create(
    name: Annotated[str, typer.Option("--name", help=H("users.name"))],
    role: Annotated[Role, typer.Option("--role", help=H("users.role"))],
    party_id: Annotated[Optional[str], typer.Option("--party-id", help=H("users.party_id"))] = None,
) -> None:
    """Create a user and print its token once."""
    with write(open_store().engine) as conn:
        _, token = create_user(conn, name=name, role=role, party_id=party_id)
    err.print(t("cli.token_once", lang(), name=name, role=role.value), markup=False)
    print(token)


@users_app.command("revoke", help=H("users.revoke"))
def users_revoke(name: Annotated[str, typer.Option("--name", help=H("users.revoke.name"))]) -> None:
    """Revoke a user's token; the user keeps its history but can no longer call the API."""
    with write(open_store().engine) as conn:
        revoke_user(conn, name)
    out.print(t("cli.user_revoked", lang(), name=name))


@users_app.command("list", help=H("users.list"))
def users_list() -> None:
    """List users (tokens are never shown again)."""
    with open_store().engine.connect() as conn:
        rows = list_users(conn)
    table = headed_table("id", "name", "role", "party_id", "active", "created_at")
    for r in rows:
        table.add_row(str(r["id"]), r["name"], r["role"], r["party_id"] or "", str(r["active"]), r["created_at"].isoformat())
    out.print(table)
