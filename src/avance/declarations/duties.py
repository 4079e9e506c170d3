"""Who may act on a declaration, beyond the role table: the office rule and the segregation of
duties. Pure: the service functions of the lifecycle call these with what they hold.

- **Offices.** An officer records arrival, control results, payment, release and rejection only
  on declarations lodged at an office the officer is attached to (``avance users offices``). An
  officer attached to no office acts nowhere (the secure default: an account created without its
  offices cannot act on every office of the country). Administrators act everywhere.
- **Segregation of duties.** On a red-lane declaration, whoever recorded a control result may not
  also release the goods: another officer must (node setting ``AVANCE_SEGREGATION_OF_DUTIES``, on
  by default). People are told apart by user name, as the events record them.
"""

from __future__ import annotations

from collections.abc import Iterable

from avance.auth.model import Principal, Role
from avance.declarations.lifecycle import Event, EventKind
from avance.kit.errors import Forbidden

OFFICE_BOUND = frozenset({Role.OFFICER})
"""Roles that act only at their own offices."""


def check_office(principal: Principal, office_code: str) -> None:
    """Refuse (403 ``forbidden.office``, or ``forbidden.no_office`` for an officer attached to no
    office) an officer acting on a declaration of an office not theirs."""
    if principal.role not in OFFICE_BOUND:
        return
    if not principal.offices:
        raise Forbidden("forbidden.no_office", name=principal.name)
    if office_code not in principal.offices:
        raise Forbidden("forbidden.office", office=office_code, offices=", ".join(principal.offices))


def check_release(principal: Principal, lane: str | None, events: Iterable[Event], *, segregation: bool = True) -> None:
    """Refuse (403 ``forbidden.segregation``) the release of a red-lane declaration by whoever
    recorded its control result, when segregation of duties is on."""
    if not segregation or lane != "red":
        return
    if any(e.kind is EventKind.INSPECTED and e.actor == principal.name for e in events):
        raise Forbidden("forbidden.segregation", name=principal.name)
