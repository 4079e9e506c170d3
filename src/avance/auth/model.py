"""Who is calling: roles and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    DECLARANT = "declarant"  # brokers and carriers: lodge and follow their own documents
    OFFICER = "officer"  # office staff: arrival, inspection results, payment, release
    ANALYST = "analyst"  # risk analysts: read everything
    ADMIN = "admin"  # IT team: everything, including bulk import
    CARRIER = "carrier"  # shipping lines and airlines: file cargo reports, answer their referrals


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int | None
    name: str
    role: Role
    party_id: str | None = None  # the declarant's or carrier's identification (TIN)
    offices: tuple[str, ...] = ()  # the customs offices the user works at (codes)
    via: str | None = None  # from where, for the audit trail: token:<user id>, session, cli:<os user>
    address: str | None = None  # the client's network address (API and pages)


PARTY_ROLES = frozenset({Role.DECLARANT, Role.CARRIER})
"""Roles that act for one party (``Principal.party_id``) and see only that party's documents."""


SYSTEM = Principal(user_id=None, name="system", role=Role.ADMIN)
"""The node itself, for command-line work run by the IT team (imports, demo)."""
