"""Users and their bearer tokens. Tokens are random, shown once, and stored as SHA-256 hashes;
each expires (``TOKEN_DAYS`` after it was issued, by default), can be replaced by a new one without
creating a new user (``rotate_token``), and records when it was last used, to the minute."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from avance.auth.model import Principal, Role
from avance.kit.errors import Conflict, Issue, NotFound, Unauthorized, ValidationFailed
from avance.auth.tables import sessions, user_offices, users

TOKEN_PREFIX = "avk_"
_NAME = re.compile(r"^[\w .@'-]{1,70}$", re.UNICODE)
_PARTY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,34}$")
TOKEN_DAYS = 90
"""How long a token works by default (the node's setting ``AVANCE_TOKEN_DAYS`` may say otherwise)."""
USE_PRECISION = timedelta(minutes=1)
"""A token's last use is written at most once in this time: calls do not each cost a write."""


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str]:
    """A new token and its hash (the hash is stored, the token shown once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def create_user(
    conn: Connection, *, name: str, role: Role, party_id: str | None = None, days: int = TOKEN_DAYS, now: datetime | None = None
) -> tuple[int, str]:
    """Create a user and return (id, token). The token is not stored and cannot be shown again;
    it works for ``days`` days."""
    issues = []
    if not _NAME.match(name):
        issues.append(Issue("/name", "user.bad_name", {"name": name}))
    if role in (Role.DECLARANT, Role.CARRIER) and not party_id:
        issues.append(Issue("/party_id", "user.party_required", {}))
    if party_id is not None and not _PARTY.match(party_id):
        issues.append(Issue("/party_id", "user.bad_party", {"party": party_id}))
    if issues:
        raise ValidationFailed(issues)
    token, token_hash = _new_token()
    now = now or datetime.now(timezone.utc)
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(users).values(
                    name=name,
                    role=role.value,
                    party_id=party_id,
                    token_hash=token_hash,
                    token_expires_at=now + timedelta(days=days),
                    active=True,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise Conflict("conflict.user_exists", name=name) from None
    return int(result.inserted_primary_key[0]), token


def rotate_token(conn: Connection, name: str, *, days: int = TOKEN_DAYS, now: datetime | None = None) -> str:
    """Give ``name`` a new token, returned once, working for ``days`` days; the old one stops at
    once. The user, its history, password, sessions and offices stay. A revoked user gets no new
    token (409 ``conflict.user_revoked``)."""
    row = conn.execute(select(users.c.id, users.c.active).where(users.c.name == name)).mappings().first()
    if row is None:
        raise NotFound("not_found.user", name=name)
    if not row["active"]:
        raise Conflict("conflict.user_revoked", name=name)
    token, token_hash = _new_token()
    now = now or datetime.now(timezone.utc)
    conn.execute(update(users).where(users.c.id == row["id"]).values(token_hash=token_hash, token_expires_at=now + timedelta(days=days), token_last_used_at=None))
    return token


@dataclass(frozen=True)
class Identified:
    """The holder of a token, and whether its last use is due to be written (``record_use``)."""

    principal: Principal
    stale_use: bool


def identify(conn: Connection, token: str | None, *, now: datetime | None = None) -> Identified:
    """The principal holding ``token``; Unauthorized when it is missing, unknown or revoked
    (``unauthorized.invalid``) or expired (``unauthorized.expired``, with its date). Reads only."""
    if not token:
        raise Unauthorized("unauthorized.missing")
    now = now or datetime.now(timezone.utc)
    row = conn.execute(select(users).where(users.c.token_hash == hash_token(token))).mappings().first()
    if row is None or not row["active"]:
        raise Unauthorized("unauthorized.invalid")
    if row["token_expires_at"] <= now:
        raise Unauthorized("unauthorized.expired", at=row["token_expires_at"].date().isoformat())
    offices = tuple(conn.execute(select(user_offices.c.office_code).where(user_offices.c.user_id == row["id"]).order_by(user_offices.c.office_code)).scalars())
    last = row["token_last_used_at"]
    principal = Principal(user_id=row["id"], name=row["name"], role=Role(row["role"]), party_id=row["party_id"], offices=offices)
    return Identified(principal, stale_use=last is None or now - last >= USE_PRECISION)


def authenticate(conn: Connection, token: str | None, *, now: datetime | None = None) -> Principal:
    """The principal holding ``token`` (``identify``), without recording the use."""
    return identify(conn, token, now=now).principal


def record_use(conn: Connection, user_id: int, *, now: datetime | None = None) -> None:
    """Write that the user's token was used now, unless that was written less than a minute ago
    (by another process, say)."""
    now = now or datetime.now(timezone.utc)
    conn.execute(
        update(users)
        .where(users.c.id == user_id, or_(users.c.token_last_used_at.is_(None), users.c.token_last_used_at <= now - USE_PRECISION))
        .values(token_last_used_at=now.replace(second=0, microsecond=0))
    )


def revoke_user(conn: Connection, name: str) -> None:
    """Disable a user at once (a lost laptop, a broker whose licence was withdrawn): the token no
    longer works and every signed-in session ends."""
    result = conn.execute(update(users).where(users.c.name == name).values(active=False))
    if result.rowcount == 0:
        raise NotFound("not_found.user", name=name)
    conn.execute(delete(sessions).where(sessions.c.user_id.in_(select(users.c.id).where(users.c.name == name))))


def list_users(conn: Connection) -> list[dict]:
    """Every user with its token's expiry and last use and whether it has a second factor (never
    a token, a hash or a secret)."""
    columns = (
        users.c.id,
        users.c.name,
        users.c.role,
        users.c.party_id,
        users.c.active,
        users.c.created_at,
        users.c.token_expires_at,
        users.c.token_last_used_at,
        users.c.totp_secret.is_not(None).label("totp"),
    )
    return [dict(r) for r in conn.execute(select(*columns).order_by(users.c.id)).mappings()]
