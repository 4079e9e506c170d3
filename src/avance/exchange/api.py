"""HTTP routes of the exchange: the inbox partners post to, this node's identity, and its state.

The inbox and the identity are public (a partner authenticates each message by its signature);
the rest names its action in the role table (``READ_EXCHANGE``, ``RUN_EXCHANGE``, ``READ_PARTNERS``,
``READ_MOVEMENTS``)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.errors import Forbidden, Issue, ValidationFailed
from avance.exchange import inbox, keys, partners, status
from avance.exchange.envelope import Envelope, format_time
from avance.exchange.outbox import enqueue
from avance.exchange.schemas import Alert, ExchangeStatus, Identity, Partner, PartnerReferenceRecord, Published
from avance.kit.http import NodeDep, problem_response
from avance.store.engine import write

router = APIRouter(prefix="/exchange", tags=["exchange"])

Administrator = Annotated[Principal, Allowed(Action.RUN_EXCHANGE)]
ExchangeReader = Annotated[Principal, Allowed(Action.READ_EXCHANGE)]


def _json(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


@router.post(
    "/messages",
    summary="Inbox: a partner node delivers a batch of signed messages",
    description=(
        "The body is a JSON array of message envelopes (docs/exchange.md). No bearer token: each message "
        "is authenticated by its Ed25519 signature against the partner registry. The answer is a JSON "
        "array of `ack` envelopes, one per message and in the same order: accepted, buffered, "
        "duplicate, rejected (with the reason) or retry; signed when the message's signature verified, "
        "unsigned for a message that could not be authenticated. The whole batch is applied in one transaction."
    ),
    responses={
        200: {"description": "One acknowledgement per message (signed, unless the message could not be authenticated).", "model": list[Envelope]},
        403: problem_response(403, "The node accepts deliveries only from its partners' addresses (`exchange_inbox_allow`), and this one is not among them."),
        422: {"description": "The body is not a JSON array, or holds more messages than a batch may."},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}},
)
async def receive_messages(request: Request, node: NodeDep) -> Response:
    source = request.client.host if request.client else None
    allowed = node.settings.exchange_inbox_allow
    if allowed and not inbox.source_allowed(source, allowed):  # before the body is even read
        raise Forbidden("exchange.source_refused", address=source or "?")
    body = await request.body()
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationFailed([Issue("", "exchange.batch_not_array", {})]) from None
    if not isinstance(items, list):
        raise ValidationFailed([Issue("", "exchange.batch_not_array", {})])
    if len(items) > inbox.MAX_BATCH:
        raise ValidationFailed([Issue("", "exchange.batch_too_large", {"limit": inbox.MAX_BATCH})])
    acks = await run_in_threadpool(
        partial(inbox.receive, source=source, sample=node.settings.exchange_rejection_sample),
        node.engine,
        node.settings.data_dir,
        node.settings.exchange_window_seconds,
        items,
        node.handlers,
    )
    return _json(acks)


@router.get("/identity", response_model=Identity, summary="This node's id and public keys (what partners register)")
def identity(node: NodeDep) -> dict[str, Any]:
    with node.engine.connect() as conn:
        node_id = keys.node_id(conn)
        own = keys.own_keys(conn)
    return {
        "node_id": node_id,
        "country": node.context.country,
        "keys": [
            {
                "kid": k.kid,
                "alg": "EdDSA",
                "public_key": keys.public_key_base64(k),
                "created_at": format_time(k.created_at),
                "current": k.retired_at is None,
                "expires_at": format_time(k.expires_at) if k.expires_at else None,
            }
            for k in own
            if k.retired_at is None or k.expires_at is not None
        ],
    }


@router.get("/status", response_model=ExchangeStatus, summary="Per partner: queue depth, oldest pending message, last success and error, dead letters")
def exchange_status(node: NodeDep, caller: ExchangeReader) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return status.report(conn)


@router.get("/alerts", response_model=list[Alert], summary="Exchange alerts: dead letters and messages partners rejected")
def exchange_alerts(node: NodeDep, caller: ExchangeReader, open_only: Annotated[bool, Query(alias="open")] = True) -> list[dict[str, Any]]:
    with node.engine.connect() as conn:
        return status.alerts(conn, open_only=open_only)


@router.get("/partners", response_model=list[Partner], summary="Registered partner nodes and their keys")
def list_partners(node: NodeDep, caller: Annotated[Principal, Allowed(Action.READ_PARTNERS)]) -> list[dict[str, Any]]:
    with node.engine.connect() as conn:
        found = partners.list_partners(conn)
    return [
        {
            "node_id": p.node_id,
            "country": p.country,
            "endpoint": p.endpoint,
            "added_at": format_time(p.added_at),
            "keys": [{"kid": k.kid, "added_at": format_time(k.added_at)} for k in p.keys],
        }
        for p in found
    ]


class ReferenceDataUpdate(BaseModel):
    """An update of this administration's reference data, published to partners."""

    model_config = ConfigDict(extra="forbid")
    dataset: Literal["offices", "holidays"]
    action: Literal["upsert", "delete"] = "upsert"
    effective_date: str | None = Field(None, description="ISO 8601 date from which it applies.")
    records: list[dict[str, Any]] = Field(min_length=1, max_length=500)
    to: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(None, max_length=50, description="Partner node ids (default: every partner).")


@router.post(
    "/reference-data",
    status_code=202,
    response_model=Published,
    summary="Publish an update of this administration's offices or holidays to partners",
)
def publish_reference_data(update: ReferenceDataUpdate, node: NodeDep, caller: Administrator) -> dict[str, Any]:
    payload: dict[str, Any] = {"dataset": update.dataset, "action": update.action, "records": update.records}
    if update.effective_date is not None:
        payload["effective_date"] = update.effective_date
    with write(node.engine) as conn:
        targets = update.to if update.to is not None else [p.node_id for p in partners.list_partners(conn)]
        if not targets:
            raise ValidationFailed([Issue("/to", "exchange.refdata.no_partners", {})])
        issues = [
            Issue(f"/records/{i}/country", "exchange.refdata.foreign", {"country": r.get("country"), "partner": node.context.country})
            for i, r in enumerate(update.records)
            if r.get("country") != node.context.country
        ]
        if issues:
            raise ValidationFailed(issues)
        ids = {target: enqueue(conn, to=target, type="reference-data-update", payload=payload, movement=f"reference-data:{update.dataset}") for target in targets}
    return {"message_ids": ids}


@router.get("/reference-data", response_model=list[PartnerReferenceRecord], summary="Reference data partners published (offices, holidays)")
def partner_reference_data(
    node: NodeDep,
    caller: Annotated[Principal, Allowed(Action.READ_MOVEMENTS)],
    partner: Annotated[str | None, Query(max_length=64)] = None,
    dataset: Literal["offices", "holidays"] | None = None,
) -> list[dict[str, Any]]:
    with node.engine.connect() as conn:
        return inbox.reference_data(conn, partner=partner, dataset=dataset)
