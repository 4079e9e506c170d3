"""Users and their bearer tokens. Tokens are random, shown once, and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from avance.auth.model import Principal, Role
from avance.kit.errors import Conflict, Issue, NotFound, Unauthorized, ValidationFailed
from avance.auth.tables import users

TOKEN_PREFIX = "avk_"
_NAME = re.compile(r"^[\w .@'-]{1,70}$", re.UNICODE)
_PARTY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,34}$")


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(conn: Connection, *, name: str, role: Role, party_id: str | None = None) -> tuple[int, str]:
    """Create a user and return (id, token). The token is not stored and cannot be shown again."""
    issues = []
    if not _NAME.match(name):
        issues.append(Issue("/name", "user.bad_name", {"name": name}))
    if role is Role.DECLARANT and not party_id:
        issues.append(Issue("/party_id", "user.party_required", {}))
    if party_id is not None and not _PARTY.match(party_id):
        issues.append(Issue("/party_id", "user.bad_party", {"party": party_id}))
    if issues:
        raise ValidationFailed(issues)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(users).values(
                    name=name,
                    role=role.value,
                    party_id=party_id,
                    token_hash=hash_token(token),
                    active=True,
                    created_at=datetime.now(timezone.utc),
                )
            )
    except IntegrityError:
        raise Conflict("conflict.user_exists", name=name) from None
    return int(result.inserted_primary_key[0]), token


def authenticate(conn: Connection, token: str | None) -> Principal:
    """The principal holding ``token``; Unauthorized when it is missing, unknown or revoked."""
    if not token:
        raise Unauthorized("unauthorized.missing")
    row = conn.execute(select(users).where(users.c.token_hash == hash_token(token))).mappings().first()
    if row is None or not row["active"]:
        raise Unauthorized("unauthorized.invalid")
    return Principal(user_id=row["id"], name=row["name"], role=Role(row["role"]), party_id=row["party_id"])


def revoke_user(conn: Connection, name: str) -> None:
    """Disable a user's token at once (a lost laptop, a broker whose licence was withdrawn)."""
    result = conn.execute(update(users).where(users.c.name == name).values(active=False))
    if result.rowcount == 0:
        raise NotFound("not_found.user", name=name)


def list_users(conn: Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(select(users.c.id, users.c.name, users.c.role, users.c.party_id, users.c.active, users.c.created_at).order_by(users.c.id)).mappings()]
