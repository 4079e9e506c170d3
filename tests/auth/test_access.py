"""Who may do what is written once, in the role table: every action has its roles, every protected
route names the action it needs, and over real HTTP each role gets in or gets 403 exactly as the
table says; the services that the command line and the bulk import reach apply the same table."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import routing
from fastapi.routing import APIRoute

from avance.auth.access import ROLES, Action, may
from avance.auth.api import Permission
from avance.auth.model import Principal, Role
from avance.declarations import service as declarations
from avance.declarations.model import GoodsDeclaration
from avance.entrypoints.http import create_app
from avance.kit.errors import Forbidden
from avance.movements.transit import model as transit_model
from avance.movements.transit import service as transit_service
from avance.risk.profiles import service as profiles
from avance.store.engine import write
from tests.support import declaration, lodge_document

PROBLEM = "application/problem+json"
PUBLIC = {("POST", "/exchange/messages"), ("GET", "/exchange/identity"), ("GET", "/health")}
"""What partners and monitoring reach without a token (a partner's message carries its signature)."""

TOKENS = {Role.ADMIN: "admin", Role.OFFICER: "officer", Role.ANALYST: "analyst", Role.DECLARANT: "broker"}
"""The user of each role that ``tests.support.serve`` creates."""

ONE_ROUTE_PER_ACTION: dict[Action, tuple[str, str, str, Any]] = {
    # action: (method, route, request path, body); a role let in gets the route's own answer
    # (200, or 404 for an id that does not exist, or 422 for an empty body), never 401 or 403.
    Action.LODGE: ("POST", "/declarations", "/declarations", {}),
    Action.READ_DOCUMENTS: ("GET", "/declarations", "/declarations", None),
    Action.READ_RISK: ("GET", "/risk/profiles", "/risk/profiles", None),
    Action.RECORD_CONTROL: ("POST", "/declarations/{declaration_id}/release", "/declarations/2147483647/release", None),
    Action.EDIT_RISK: ("DELETE", "/risk/profiles/{profile_id}", "/risk/profiles/P-NO-SUCH-PROFILE", None),
    Action.RUN_RISK_ENGINE: ("GET", "/risk/engine", "/risk/engine", None),
    Action.SEND_MOVEMENTS: ("POST", "/transits", "/transits", {}),
    Action.READ_MOVEMENTS: ("GET", "/transits", "/transits", None),
    Action.READ_PARTNERS: ("GET", "/exchange/partners", "/exchange/partners", None),
    Action.READ_EXCHANGE: ("GET", "/exchange/status", "/exchange/status", None),
    Action.RUN_EXCHANGE: ("POST", "/exchange/reference-data", "/exchange/reference-data", {}),
    Action.READ_DEBTS: ("GET", "/debts", "/debts", None),
}


def _permissions(dependant: Any) -> list[Permission]:
    found = []
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Permission):
            found.append(dependency.call)
        found += _permissions(dependency)
    return found


def route_actions(node: Any) -> dict[tuple[str, str], list[Action]]:
    """Each documented operation of the node's API and the actions its caller must be allowed."""
    app = create_app(node)
    # FastAPI from 0.16x keeps included routers nested; before, their routes were copied flat
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    found = {}
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in context.methods:
                found[(method, context.path)] = [p.action for p in _permissions(route.dependant)]
    return found


def test_every_action_has_its_roles_and_administrators_may_do_everything():
    assert set(ROLES) == set(Action)
    for action in Action:
        assert ROLES[action], action
        assert Role.ADMIN in ROLES[action], action
    assert ROLES[Action.READ_DOCUMENTS] == frozenset(Role), "everybody reads documents (a declarant: its own)"
    assert Role.DECLARANT not in ROLES[Action.READ_RISK], "traders who read the criteria would learn to avoid them"


def test_every_protected_route_names_one_action_and_every_action_guards_a_route(sqlite_node):
    actions = route_actions(sqlite_node)
    assert {operation for operation, needed in actions.items() if not needed} == PUBLIC
    assert all(len(needed) <= 1 for needed in actions.values()), {op: n for op, n in actions.items() if len(n) > 1}
    assert {a for needed in actions.values() for a in needed} == set(Action), "an action no route needs"
    for action, (method, route, _, _) in ONE_ROUTE_PER_ACTION.items():
        assert actions[(method, route)] == [action], (method, route)


def test_each_role_gets_in_or_gets_403_as_the_table_says(api):
    for action, (method, _, path, body) in ONE_ROUTE_PER_ACTION.items():
        for role, user in TOKENS.items():
            with api.client(user, lang="en") as http:
                answer = http.request(method, path, json=body)
            if may(Principal(None, user, role), action):
                assert answer.status_code not in (401, 403), (action, role, answer.text)
            else:
                assert answer.status_code == 403 and answer.headers["content-type"].startswith(PROBLEM), (action, role, answer.text)
                assert answer.json()["code"] == "forbidden.role" and role.value in answer.json()["detail"]


def _principal(role: Role) -> Principal:
    offices = ("SN-DKR-PORT",) if role is Role.OFFICER else ()  # an officer acts at its offices only
    return Principal(user_id=None, name=f"{role.value}-user", role=role, party_id="SN0012345A7" if role is Role.DECLARANT else None, offices=offices)


def _refused(node: Any, act: Any) -> bool:
    """Whether the service refused the principal for its role (anything else it did is rolled back)."""
    try:
        with write(node.engine) as conn:
            act(conn)
            raise _RollBack
    except Forbidden as exc:
        assert exc.code == "forbidden.role", exc.code
        return True
    except _RollBack:
        return False
    except Exception:  # refused for another reason than the role: the role was let in
        return False


class _RollBack(Exception):
    pass


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_the_services_the_command_line_reaches_apply_the_same_table(sqlite_node, role):
    node, principal = sqlite_node, _principal(role)
    declaration_id = lodge_document(node, declaration(lrn=f"ACCESS-{role.value}"))
    textiles = {"id": "P-ACCESS", "description": {"fr": "Essai", "en": "Test"}, "when": {"origin": ["CN"]}, "lane": "red"}
    registration = {
        "lrn": "ACCESS-TR",
        "departure_office": "SN-DKR-PORT",
        "itinerary": ["ML-KYS-ROAD"],
        "destination_office": "ML-BKO-ROAD",
        "principal": {"id": "SN0055555T5", "name": "Kidira Logistique", "country": "SN"},
        "guarantee": {"reference": "GRN-1", "amount": {"amount": "1000", "currency": "XOF"}},
        "transport_means": {"mode_code": 3, "identification": "DK-1234-AB", "nationality": "SN"},
        "items": [{"sequence": 1, "hs_code": "252329", "description": "Cement", "gross_mass": "40000"}],
        "time_limit": "2099-01-01T00:00:00Z",
    }
    calls = {
        Action.LODGE: lambda conn: declarations.lodge(conn, node.context, GoodsDeclaration.model_validate(declaration(lrn=f"ACCESS2-{role.value}")), principal),
        Action.RECORD_CONTROL: lambda conn: declarations.record_arrival(conn, declaration_id, principal),
        Action.READ_RISK: lambda conn: profiles.list_profiles(conn, principal),
        Action.EDIT_RISK: lambda conn: profiles.put_profile(conn, textiles, principal),
        Action.SEND_MOVEMENTS: lambda conn: transit_service.register(conn, node.context, transit_model.TransitRegistration.model_validate(registration), principal),
    }
    for action, call in calls.items():
        assert _refused(node, call) is not may(principal, action), (action, role)
