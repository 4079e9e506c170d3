"""Tables of users and their tokens (stored hashed), sessions and offices."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from avance.store.types import UTCDateTime
from avance.store.metadata import metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(70), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("party_id", String(35), nullable=True, comment="TIN of the declarant or carrier a declarant user acts for"),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_hash", String(200), nullable=True, comment="Argon2id hash of the user's password; none for programs"),
    Column("failed_sign_ins", Integer, nullable=False, default=0, server_default="0", comment="Wrong passwords in a row"),
    Column("sign_in_blocked_until", UTCDateTime, nullable=True, comment="After five wrong passwords in a row, no sign-in before this time"),
    Column("token_expires_at", UTCDateTime, nullable=False, comment="The token stops working at this time (AVANCE_TOKEN_DAYS after it was issued)"),
    Column("token_last_used_at", UTCDateTime, nullable=True, comment="Last call with the token, to the minute (written at most once a minute)"),
    Column("totp_secret", String(128), nullable=True, comment="Secret of the user's second factor (TOTP), sealed with the node's key (auth.totp.Sealer); never shown after enrolment"),
    Column("totp_last_step", Integer, nullable=True, comment="Time step of the last code accepted: a code is used once"),
)

user_offices = Table(
    "user_offices",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("office_code", String(35), primary_key=True),
    comment="The customs offices a user works at: an officer's queue is theirs",
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True, comment="SHA-256 of the session cookie's random value"),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False, comment="The token every form of the session must carry"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("step", String(16), nullable=True, comment="A half-open session: 'totp' waits for the second factor's code, 'totp_setup' for its enrolment; none: open"),
    Column("totp_setup_secret", String(128), nullable=True, comment="The secret offered on the enrolment step, sealed, until its first code is given"),
    Index("ix_sessions_user", "user_id"),
    comment="Signed-in browser sessions, kept on the server; ended by sign-out, idle time, revocation or a new password",
)
