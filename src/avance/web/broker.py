"""The declarant's (broker's) pages: its own declarations, their status, what is due and what
blocks release. Never the risk score, the selectivity criteria, the officers' names or their
free-text findings: the pages use the declarant's view of the API (``detail_view(risk=False)``,
``views.strip_for_declarant``)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from avance.auth.model import PARTY_ROLES
from avance.declarations import release_notes, service
from avance.declarations.lifecycle import EventKind, release_blockers
from avance.declarations.views import detail_view, summary_view
from avance.kit.errors import Forbidden
from avance.web.kit import Page, PageUser, render
from avance.web.officer import described

PAGE_SIZE = 50
DeclarationId = Annotated[int, Path(ge=1, le=2_147_483_647)]

router = APIRouter(include_in_schema=False)


def _party(user: PageUser) -> None:
    """These pages are a party's own (a declarant, a carrier); customs staff have the queue."""
    if user.principal.role not in PARTY_ROLES:
        raise Forbidden("forbidden.role", role=user.principal.role.value)


def _page_number(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1_000_000)
    except ValueError:
        return 1


@router.get("/my/declarations")
def my_declarations(request: Request, user: Page) -> Response:
    _party(user)
    page = _page_number(request.query_params.get("page"))
    rows = []
    with request.app.state.node.engine.connect() as conn:
        found, total = service.search(conn, user.principal, service.Filters(), page=page, page_size=PAGE_SIZE)
        for row in found:
            life = service.get(conn, row["id"], user.principal).lifecycle
            view = summary_view(row, user.lang, risk=False)
            view["amount_due"] = life.due
            view["amount_outstanding"] = life.outstanding
            view["blockers"] = [] if life.reached(EventKind.RELEASED) or life.reached(EventKind.REJECTED) else [b.message(user.lang) for b in release_blockers(life)]
            rows.append(view)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render(request, "broker/declarations.html", user, rows=rows, total=total, page=page, pages=pages)


@router.get("/my/declarations/{declaration_id}")
def my_declaration(request: Request, declaration_id: DeclarationId, user: Page) -> Response:
    _party(user)
    with request.app.state.node.engine.connect() as conn:
        record = service.get(conn, declaration_id, user.principal)  # another party's: 404
        note = release_notes.of_declaration(conn, declaration_id)
    view = described(detail_view(record, user.lang, risk=False), user.lang, staff=False)
    return render(request, "broker/declaration.html", user, d=view, doc=view["declaration"], life=record.lifecycle, note=note)
