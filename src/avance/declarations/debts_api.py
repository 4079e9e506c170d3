"""``GET /debts``: what post-clearance audits found owed by importers, for officers and analysts.

A debt is assessed by ``declarations.service.assess_supplement`` after release (a blue-lane audit
finding); it is paid through ``POST /declarations/{id}/payment`` like any duty."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.declarations import service
from avance.declarations.schemas import DebtPage
from avance.declarations.views import debt_view
from avance.kit.http import Lang, NodeDep

router = APIRouter(prefix="/debts", tags=["declarations"])

DebtReader = Annotated[Principal, Allowed(Action.READ_DEBTS)]


@router.get(
    "",
    response_model=DebtPage,
    summary="Debts of importers found by post-clearance audits (filter and paginate)",
    description="Newest first. Each debt says who assessed what and when (the supplement event of the declaration), "
    "what was paid against it (receipts; payments cover the oldest debt first) and what is still owed.",
)
def list_debts(
    node: NodeDep,
    caller: DebtReader,
    lang: Lang,
    importer_id: Annotated[str | None, Query(max_length=35)] = None,
    office_code: Annotated[str | None, Query(max_length=35)] = None,
    status: Literal["open", "settled"] | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    filters = service.DebtFilters(importer_id, office_code, status)
    with node.engine.connect() as conn:
        found, total = service.search_debts(conn, caller, filters, page=page, page_size=page_size)
    return {"items": [debt_view(row, debt, lang) for row, debt in found], "page": page, "page_size": page_size, "total": total}
