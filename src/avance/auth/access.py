"""The one role table: which roles may do what.

Routes declare the action they need (``avance.auth.api.Allowed``); services that can be reached
another way (the command line, the bulk import) call ``require`` with the same action. Checks that
depend on the data, such as a declarant seeing its own documents only, stay in the services.
"""

from __future__ import annotations

from enum import Enum

from avance.auth.model import Principal, Role
from avance.kit.errors import Forbidden

_ALL = frozenset(Role)
_STAFF = frozenset({Role.OFFICER, Role.ANALYST, Role.ADMIN})


class Action(str, Enum):
    LODGE = "lodge"  # goods declarations (a declarant in its own name only)
    LODGE_CARGO = "lodge_cargo"  # cargo reports, new or amended (a carrier or declarant in its own name only)
    READ_DOCUMENTS = "read_documents"  # declarations and cargo reports (a declarant: its own)
    READ_RISK = "read_risk"  # lanes' reasons, scores, profiles, valuation references
    RECORD_CONTROL = "record_control"  # arrival, control results, payment, release, rejection
    READ_DEBTS = "read_debts"  # what post-clearance audits found owed by importers
    EDIT_RISK = "edit_risk"  # selectivity profiles, valuation bounds
    RUN_RISK_ENGINE = "run_risk_engine"  # the installed model and policy; reload them
    SEND_MOVEMENTS = "send_movements"  # export notices and matching to partners, transit movements
    READ_MOVEMENTS = "read_movements"  # mirror-control outcomes, transits, guarantees, partners' reference data
    READ_PARTNERS = "read_partners"  # the partner registry
    READ_EXCHANGE = "read_exchange"  # the exchange's queues toward each partner, dead letters and alerts
    RUN_EXCHANGE = "run_exchange"  # publishing reference data to partners
    READ_REPORTS = "read_reports"  # release times, lanes, revenue and hit-rate dashboards
    REFER_CARGO = "refer_cargo"  # pre-loading referrals of bills of lading: make them, lift them
    ANSWER_REFERRALS = "answer_referrals"  # a carrier answers the referrals of its own cargo
    READ_AUDIT = "read_audit"  # the audit trail: who changed what, and its signed heads


ROLES: dict[Action, frozenset[Role]] = {
    Action.LODGE: frozenset({Role.DECLARANT, Role.ADMIN}),
    Action.READ_DOCUMENTS: _ALL,
    Action.READ_RISK: _STAFF,
    Action.RECORD_CONTROL: frozenset({Role.OFFICER, Role.ADMIN}),
    Action.READ_DEBTS: _STAFF,
    Action.EDIT_RISK: frozenset({Role.ANALYST, Role.ADMIN}),
    Action.RUN_RISK_ENGINE: frozenset({Role.ANALYST, Role.ADMIN}),
    Action.SEND_MOVEMENTS: frozenset({Role.OFFICER, Role.ADMIN}),
    Action.READ_MOVEMENTS: _STAFF,
    Action.READ_PARTNERS: frozenset({Role.ANALYST, Role.ADMIN}),
    Action.READ_EXCHANGE: frozenset({Role.ANALYST, Role.ADMIN}),
    Action.RUN_EXCHANGE: frozenset({Role.ADMIN}),
    Action.READ_REPORTS: _STAFF,
    Action.LODGE_CARGO: frozenset({Role.DECLARANT, Role.CARRIER, Role.ADMIN}),
    Action.REFER_CARGO: frozenset({Role.ANALYST, Role.ADMIN}),
    Action.ANSWER_REFERRALS: frozenset({Role.CARRIER, Role.ADMIN}),
    Action.READ_AUDIT: frozenset({Role.ADMIN}),
}
"""Who may do what. Every action has its line (a test checks)."""


def may(principal: Principal, action: Action) -> bool:
    """Whether ``principal``'s role may do ``action``."""
    return principal.role in ROLES[action]


def require(principal: Principal, action: Action) -> None:
    """Refuse (403 ``forbidden.role``) a principal whose role may not do ``action``."""
    if not may(principal, action):
        raise Forbidden("forbidden.role", role=principal.role.value)
