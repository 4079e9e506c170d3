"""HTTP routes of the audit trail (``/audit``, administrators only), and ``RecordedRead``: the
dependency of the routes that show confidential risk data (criteria, bounds, scores), which lets
the caller in as ``Allowed`` does and records one read per request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from avance.audit import service
from avance.auth.access import Action, require
from avance.auth.api import Allowed, Caller, Permission
from avance.auth.model import Principal
from avance.kit.http import NodeDep, problems

router = APIRouter(prefix="/audit", tags=["audit"])

Auditor = Annotated[Principal, Allowed(Action.READ_AUDIT)]


class AuditRecord(BaseModel):
    seq: int = Field(description="Position in the chain, from 1.")
    at: str = Field(description="When (UTC, ISO 8601).", json_schema_extra={"format": "date-time"})
    actor: str
    role: str | None
    via: str | None = Field(description="From where: token:<user id>, session, cli:<operating-system user>, system.")
    address: str | None = Field(description="The client's network address.")
    action: str
    object_type: str
    object_id: str
    before_digest: str | None = Field(description="SHA-256 of the canonical JSON of the object before the change.")
    after_digest: str | None = Field(description="SHA-256 of the canonical JSON of the object after the change.")
    before_doc: Any = Field(description="The object before, when small and not secret.")
    after_doc: Any = Field(description="The object after, when small and not secret.")
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecord]
    page: int
    page_size: int
    total: int


class SignedHead(BaseModel):
    seq: int = Field(description="The chain's last record when signed.")
    hash: str
    signed_at: str = Field(json_schema_extra={"format": "date-time"})
    node_id: str
    kid: str = Field(description="The exchange key that signed.")
    signature: str = Field(description="Ed25519, base64url, over 'avance-audit-head/1\\n' and the canonical JSON of the other fields.")


class SignedHeads(BaseModel):
    items: list[SignedHead]


@router.get("", response_model=AuditPage, summary="Audit records (filter by actor, object and period; newest first)", responses=problems(401, 403, 422))
def list_records(
    node: NodeDep,
    _: Auditor,
    actor: Annotated[str | None, Query(max_length=120)] = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=120)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601, UTC without an offset).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601, UTC without an offset).")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    filters = service.Filters(actor, object_type, object_id, action, _utc(since), _utc(until))
    with node.engine.connect() as conn:
        rows, total = service.search(conn, filters, limit=page_size, offset=(page - 1) * page_size)
    return {"items": rows, "page": page, "page_size": page_size, "total": total}


@router.get("/heads", response_model=SignedHeads, summary="The chain's signed heads, oldest first", responses=problems(401, 403))
def heads(node: NodeDep, _: Auditor) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return {"items": service.signed_heads(conn)}


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class RecordedRead(Permission):
    """``Allowed(action)`` that also records the read of confidential data (``what``: e.g.
    ``risk.profiles``) in the audit trail, once per request, in its own transaction."""

    what: str = "risk"

    def __call__(self, request: Request, caller: Caller) -> Principal:  # type: ignore[override]
        require(caller, self.action)
        service.record_read(request.app.state.node.engine, caller, self.what, request.url.path, request.url.query or None)
        return caller


def Recorded(action: Action, what: str) -> object:  # noqa: N802  (used as a type: Annotated[Principal, Recorded(...)])
    """The caller, who must hold a role allowed to do ``action`` (403 otherwise); the read is recorded."""
    return Depends(RecordedRead(action, what))
