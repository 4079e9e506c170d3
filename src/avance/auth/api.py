"""Who is calling: the caller of a route as a dependency type, resolved from a bearer token.

Routes declare ``Caller`` (any signed-in user) or ``Allowed(Action.X)`` (a user whose role may do X,
by the one role table of ``avance.auth.access``). Services keep the checks that depend on the data
(a declarant sees its own documents only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from avance.auth.access import Action, require
from avance.auth.model import Principal
from avance.auth.service import identify, record_use
from avance.store.engine import write

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="avk_…",
    description="A user's token, from `avance users create` or `avance users rotate-token` (stored hashed, shown once; expires).",
)


def principal(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The user behind the bearer token of the request (401 without a valid one, or with an
    expired one). Its last use is written at most once a minute: most calls only read."""
    token = credentials.credentials.strip() if credentials is not None else None
    engine = request.app.state.node.engine
    with engine.connect() as conn:
        found = identify(conn, token)
    if found.stale_use and found.principal.user_id is not None:
        with write(engine) as conn:
            record_use(conn, found.principal.user_id)
    return replace(found.principal, via=f"token:{found.principal.user_id}", address=request.client.host if request.client else None)


Caller = Annotated[Principal, Depends(principal)]


@dataclass(frozen=True)
class Permission:
    """The dependency ``Allowed(action)`` stands for: the caller, refused (403 ``forbidden.role``)
    unless the role table lets its role do ``action``. Kept as an object so that the action a
    route needs can be read off the route (a test compares them with the table)."""

    action: Action

    def __call__(self, caller: Caller) -> Principal:
        require(caller, self.action)
        return caller


def Allowed(action: Action) -> object:  # noqa: N802  (used as a type: Annotated[Principal, Allowed(...)])
    """The caller, who must hold a role allowed to do ``action`` (403 otherwise)."""
    return Depends(Permission(action))
