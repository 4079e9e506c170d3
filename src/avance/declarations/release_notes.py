"""Release notes (bons à enlever): the paper the goods leave the port with, and what the gate
checks. Each released declaration gets one, numbered at release ``BAE-<office>-<year>-<seq>``
(a sequence per office and year of the release), in the release's transaction.

``issue`` is called by ``avance.declarations.service`` when it records a release (manual or
automatic); ``of_declaration`` and ``verify`` read them back for the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from avance.auth.access import Action, require
from avance.auth.model import Principal
from avance.declarations.tables import declarations, release_notes
from avance.kit.errors import NotFound

NUMBER_MAX = 64
"""Longest number the gate's form accepts (the column's length)."""


@dataclass(frozen=True)
class ReleaseNote:
    number: str
    declaration_id: int
    office_code: str
    issued_at: datetime


def _note(row: Any) -> ReleaseNote:
    return ReleaseNote(row["number"], row["declaration_id"], row["office_code"], row["issued_at"])


def number(office_code: str, year: int, sequence: int) -> str:
    return f"BAE-{office_code}-{year}-{sequence:06d}"


def issue(conn: Connection, declaration_id: int, at: datetime) -> ReleaseNote:
    """Number the release note of a declaration released at ``at`` (the same note if it has one).

    Two releases at one office at once may pick the same next sequence: the unique constraint
    refuses the second, which takes the next one (a savepoint keeps the transaction usable)."""
    existing = of_declaration(conn, declaration_id)
    if existing is not None:
        return existing
    office = conn.execute(select(declarations.c.office_code).where(declarations.c.id == declaration_id)).scalar_one()
    for _ in range(20):
        last = conn.execute(
            select(func.max(release_notes.c.sequence)).where(release_notes.c.office_code == office, release_notes.c.year == at.year)
        ).scalar()
        sequence = int(last or 0) + 1
        values = {"number": number(office, at.year, sequence), "declaration_id": declaration_id, "office_code": office, "year": at.year, "sequence": sequence, "issued_at": at}
        try:
            with conn.begin_nested():
                conn.execute(insert(release_notes).values(**values))
        except IntegrityError:  # a concurrent release took this sequence
            continue
        return ReleaseNote(values["number"], declaration_id, office, at)
    raise RuntimeError("no free release-note sequence after 20 tries")


def of_declaration(conn: Connection, declaration_id: int) -> ReleaseNote | None:
    """The release note of a declaration, None before its release."""
    row = conn.execute(select(release_notes).where(release_notes.c.declaration_id == declaration_id)).mappings().first()
    return _note(row) if row is not None else None


def verify(conn: Connection, note_number: str, principal: Principal) -> ReleaseNote:
    """The release note the gate is shown, by its number (spaces and letter case forgiven);
    customs staff only (``READ_RISK``: officers, analysts, administrators). 404 when no
    declaration was released under that number."""
    require(principal, Action.READ_RISK)
    wanted = "".join(note_number.split()).upper()[:NUMBER_MAX]
    row = conn.execute(select(release_notes).where(func.upper(release_notes.c.number) == wanted)).mappings().first()
    if row is None:
        raise NotFound("release_note.not_found", number=wanted)
    return _note(row)
