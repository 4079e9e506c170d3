"""Who is calling: roles and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    DECLARANT = "declarant"  # brokers and carriers: lodge and follow their own documents
    OFFICER = "officer"  # office staff: arrival, inspection results, payment, release
    ANALYST = "analyst"  # risk analysts: read everything
    ADMIN = "admin"  # IT team: everything, including bulk import


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int | None
    name: str
    role: Role
    party_id: str | None = None  # the declarant's or carrier's identification (TIN)


SYSTEM = Principal(user_id=None, name="system", role=Role.ADMIN)
"""The node itself, for command-line work run by the IT team (imports, demo)."""
