"""People signing in with a password: Argon2 hashes, server-side sessions, and the offices a user
works at.

A session is a random value in an HttpOnly cookie; the server keeps only its SHA-256 hash, the
user, a token that every form of the session must carry (cross-site request forgery), and when
it was last used: it ends on sign-out, after ``idle`` without use, when the user is revoked or
when the password changes. Five wrong passwords in a row slow the account down: each further
attempt must wait, longer each time, whatever the password.

A user with a second factor (``avance.auth.totp``) gets, for the right password, a half-open
session: it allows nothing but the code step (``give_code``), ends after ``HALF_OPEN`` unused,
and opens, under a new cookie, with the right code. Wrong codes count with wrong passwords, and a
right password does not clear that count for such a user: only a right code does. An
administrator or analyst without a second factor, where the node requires one
(``AVANCE_REQUIRE_TOTP``), gets a half-open session that enrols one: it shows a new secret and
opens with that secret's first code.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update

from avance.auth import totp
from avance.auth.model import Principal, Role
from avance.auth.service import hash_token
from avance.auth.tables import sessions, user_offices, users
from avance.kit.errors import Issue, NotFound, Unauthorized, ValidationFailed

_HASHER = PasswordHasher()  # Argon2id with the library's recommended parameters
_DUMMY = _HASHER.hash("avance: no such user")  # verified for unknown names so that timing does not tell
MIN_PASSWORD = 10
MAX_PASSWORD = 256
FREE_ATTEMPTS = 5
"""Wrong passwords in a row before each further attempt must wait."""
MAX_WAIT = timedelta(minutes=15)
IDLE = timedelta(minutes=30)
"""A session unused this long ends (the default; settings may give another)."""
HALF_OPEN = timedelta(minutes=5)
"""A half-open session (waiting for the second factor's code) ends this long after the password."""
SECOND_FACTOR_ROLES = frozenset({Role.ADMIN, Role.ANALYST})
"""Roles a node requiring a second factor (``AVANCE_REQUIRE_TOTP``) makes enrol one."""
CODE_STEP = "totp"
SETUP_STEP = "totp_setup"


def check_password_rules(password: str) -> None:
    """Refuse (422) a password too short or too long to keep."""
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        raise ValidationFailed([Issue("/password", "user.bad_password", {"min": MIN_PASSWORD, "max": MAX_PASSWORD})])


def set_password(conn: Connection, name: str, password: str) -> None:
    """Give ``name`` a new password; every session the user had ends, and so does any wait."""
    check_password_rules(password)
    result = conn.execute(
        update(users).where(users.c.name == name).values(password_hash=_HASHER.hash(password), failed_sign_ins=0, sign_in_blocked_until=None)
    )
    if result.rowcount == 0:
        raise NotFound("not_found.user", name=name)
    user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar_one()
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))


def set_offices(conn: Connection, name: str, offices: list[str]) -> None:
    """Attach ``name`` to exactly these offices (codes, as in the reference data)."""
    user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar_one_or_none()
    if user_id is None:
        raise NotFound("not_found.user", name=name)
    conn.execute(delete(user_offices).where(user_offices.c.user_id == user_id))
    codes = sorted({o.strip().upper() for o in offices if o.strip()})
    if codes:
        conn.execute(insert(user_offices), [{"user_id": user_id, "office_code": c} for c in codes])


def offices_of(conn: Connection, user_id: int) -> tuple[str, ...]:
    return tuple(conn.execute(select(user_offices.c.office_code).where(user_offices.c.user_id == user_id).order_by(user_offices.c.office_code)).scalars())


def end_sessions(conn: Connection, user_id: int) -> None:
    """End every session of a user (revocation, new password)."""
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))


def wait_after(failures: int) -> timedelta:
    """How long an account waits after ``failures`` wrong passwords in a row: nothing for the first
    four, then 1, 2, 4 ... seconds, at most 15 minutes."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - FREE_ATTEMPTS, 20)), MAX_WAIT)


@dataclass(frozen=True)
class SignedIn:
    cookie: str
    """The value for the session cookie (shown once, stored hashed)."""
    csrf: str
    principal: Principal
    step: str | None = None
    """None: the session is open; ``CODE_STEP`` or ``SETUP_STEP``: it is half-open."""


def sign_in(conn: Connection, username: str, password: str, *, now: datetime, require_totp: bool = False, sealer: totp.Sealer | None = None) -> SignedIn:
    """Open a session for ``username`` with ``password``. Refused (401 ``unauthorized.sign_in``,
    the same for an unknown name and a wrong password) or, while an account waits after wrong
    passwords, 401 ``unauthorized.slow_down`` with the seconds left. The session is half-open when
    the user has a second factor, or must enrol one (``require_totp``, administrators and
    analysts: the secret offered is kept sealed by ``sealer``, which that case needs)."""
    row = conn.execute(select(users).where(users.c.name == username.strip())).mappings().first()
    if row is None or not row["active"] or row["password_hash"] is None:
        _verify(_DUMMY, password)
        raise Unauthorized("unauthorized.sign_in")
    blocked = row["sign_in_blocked_until"]
    if blocked is not None and blocked > now:
        raise Unauthorized("unauthorized.slow_down", seconds=max(1, int((blocked - now).total_seconds() + 0.999)))
    if not _verify(row["password_hash"], password):
        failures = int(row["failed_sign_ins"] or 0) + 1
        wait = wait_after(failures)
        conn.execute(update(users).where(users.c.id == row["id"]).values(failed_sign_ins=failures, sign_in_blocked_until=(now + wait) if wait else None))
        raise Unauthorized("unauthorized.sign_in")
    step = CODE_STEP if row["totp_secret"] else SETUP_STEP if require_totp and Role(row["role"]) in SECOND_FACTOR_ROLES else None
    if step == SETUP_STEP and sealer is None:
        raise ValueError("enrolling a second factor needs the node's sealer")
    # with a second factor, only its right code clears the count of failures (the password alone proves too little)
    values: dict = {} if step == CODE_STEP else {"failed_sign_ins": 0, "sign_in_blocked_until": None}
    if _HASHER.check_needs_rehash(row["password_hash"]):
        values["password_hash"] = _HASHER.hash(password)
    if values:
        conn.execute(update(users).where(users.c.id == row["id"]).values(**values))
    # half-open sessions left behind by earlier sign-ins that never gave their code
    conn.execute(delete(sessions).where(sessions.c.user_id == row["id"], sessions.c.step.is_not(None), sessions.c.created_at < now - HALF_OPEN))
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        insert(sessions).values(
            id_hash=hash_token(cookie),
            user_id=row["id"],
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            step=step,
            totp_setup_secret=sealer.seal(totp.new_secret()) if step == SETUP_STEP and sealer is not None else None,
        )
    )
    return SignedIn(cookie=cookie, csrf=csrf, principal=_principal(conn, row), step=step)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


class NeedsWrite(Exception):
    """``resume(read_only=True)`` met a session it must change (mark as used, or end): call it
    again in a write transaction."""


def resume(conn: Connection, cookie: str | None, *, now: datetime, idle: timedelta = IDLE, read_only: bool = False) -> Session:
    """The session behind a cookie, marked as used now; 401 ``unauthorized.session`` when there is
    none, it has been idle too long (then it is ended), or its user is revoked. With
    ``read_only``, a session that needs a change raises ``NeedsWrite`` instead: most page views
    then take no write lock."""
    if not cookie:
        raise Unauthorized("unauthorized.session")
    key = hash_token(cookie)
    row = conn.execute(
        select(sessions.c.user_id, sessions.c.csrf, sessions.c.last_seen_at, sessions.c.step).where(sessions.c.id_hash == key)
    ).mappings().first()
    if row is None or row["step"] is not None:  # a half-open session opens no page
        raise Unauthorized("unauthorized.session")
    user = conn.execute(select(users).where(users.c.id == row["user_id"])).mappings().first()
    ended = now - row["last_seen_at"] > idle or user is None or not user["active"]
    stale = (now - row["last_seen_at"]) > timedelta(seconds=30)  # one write a minute or so, not one per page
    if read_only and (ended or stale):
        raise NeedsWrite()
    if ended:
        conn.execute(delete(sessions).where(sessions.c.id_hash == key))
        raise Unauthorized("unauthorized.session")
    if stale:
        conn.execute(update(sessions).where(sessions.c.id_hash == key).values(last_seen_at=now))
    return Session(principal=_principal(conn, user), csrf=row["csrf"])


@dataclass(frozen=True)
class HalfOpen:
    """A session waiting for the second factor: whose, which step, and for enrolment the secret
    offered (shown on the page until its first code is given)."""

    user_id: int
    name: str
    step: str
    csrf: str
    setup_secret: str | None


def half_open(conn: Connection, cookie: str | None, *, now: datetime, sealer: totp.Sealer) -> HalfOpen:
    """The half-open session behind a cookie, with the secret offered for enrolment opened by
    ``sealer``; 401 ``unauthorized.session`` when there is none or it is older than ``HALF_OPEN``
    (then it is ended)."""
    if not cookie:
        raise Unauthorized("unauthorized.session")
    key = hash_token(cookie)
    row = conn.execute(
        select(sessions.c.user_id, sessions.c.csrf, sessions.c.created_at, sessions.c.step, sessions.c.totp_setup_secret, users.c.name, users.c.active)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.id_hash == key)
    ).mappings().first()
    if row is None or row["step"] is None:
        raise Unauthorized("unauthorized.session")
    if now - row["created_at"] > HALF_OPEN or not row["active"]:
        conn.execute(delete(sessions).where(sessions.c.id_hash == key))
        raise Unauthorized("unauthorized.session")
    offered = row["totp_setup_secret"]
    return HalfOpen(user_id=row["user_id"], name=row["name"], step=row["step"], csrf=row["csrf"], setup_secret=sealer.open(offered) if offered else None)


def give_code(conn: Connection, cookie: str | None, code: str, *, now: datetime, sealer: totp.Sealer) -> SignedIn:
    """Open a half-open session with the second factor's ``code``: a code of the user's secret
    (or, on enrolment, of the secret offered, which becomes the user's), opened and stored again
    sealed by ``sealer`` (a secret stored before sealing is sealed then). The open session has a
    new cookie (the half-open one ends). A wrong code is 401 ``unauthorized.totp`` and counts as a
    wrong password; while the account waits, 401 ``unauthorized.slow_down``."""
    pending = half_open(conn, cookie, now=now, sealer=sealer)
    user = conn.execute(select(users).where(users.c.id == pending.user_id)).mappings().one()
    blocked = user["sign_in_blocked_until"]
    if blocked is not None and blocked > now:
        raise Unauthorized("unauthorized.slow_down", seconds=max(1, int((blocked - now).total_seconds() + 0.999)))
    stored = user["totp_secret"]
    secret = pending.setup_secret if pending.step == SETUP_STEP else sealer.open(stored) if stored else None
    last = None if pending.step == SETUP_STEP else user["totp_last_step"]
    step = totp.accepted_step(secret, code, now=now, last_step=last) if secret else None
    if step is None:
        failures = int(user["failed_sign_ins"] or 0) + 1
        wait = wait_after(failures)
        conn.execute(update(users).where(users.c.id == user["id"]).values(failed_sign_ins=failures, sign_in_blocked_until=(now + wait) if wait else None))
        raise Unauthorized("unauthorized.totp")
    conn.execute(
        update(users)
        .where(users.c.id == user["id"])
        .values(failed_sign_ins=0, sign_in_blocked_until=None, totp_secret=sealer.seal(secret), totp_last_step=step)
    )
    new_cookie = secrets.token_urlsafe(32)
    conn.execute(
        update(sessions)
        .where(sessions.c.id_hash == hash_token(cookie or ""))
        .values(id_hash=hash_token(new_cookie), step=None, totp_setup_secret=None, last_seen_at=now)
    )
    return SignedIn(cookie=new_cookie, csrf=pending.csrf, principal=_principal(conn, user))


def enrol_totp(conn: Connection, name: str, *, issuer: str, sealer: totp.Sealer) -> tuple[str, str]:
    """Give ``name`` a new second factor (replacing any earlier one, stored sealed by ``sealer``)
    and return its secret and its ``otpauth://`` address, to show once; the user's sessions end."""
    row = conn.execute(select(users.c.id).where(users.c.name == name)).mappings().first()
    if row is None:
        raise NotFound("not_found.user", name=name)
    secret = totp.new_secret()
    conn.execute(update(users).where(users.c.id == row["id"]).values(totp_secret=sealer.seal(secret), totp_last_step=None))
    end_sessions(conn, row["id"])
    return secret, totp.enrolment_uri(secret, name, issuer)


def sign_out(conn: Connection, cookie: str | None) -> None:
    if cookie:
        conn.execute(delete(sessions).where(sessions.c.id_hash == hash_token(cookie)))


def csrf_matches(session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _principal(conn: Connection, row) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(user_id=row["id"], name=row["name"], role=Role(row["role"]), party_id=row["party_id"], offices=offices_of(conn, row["id"]))
