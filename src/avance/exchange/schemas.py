"""What the exchange routes answer, as Pydantic models.

The OpenAPI document describes these answers and FastAPI checks each one against them; they
validate the dictionaries ``avance.exchange.status`` and ``avance.exchange.inbox`` build without
changing a key. Times are the exchange's own UTC text (``envelope.format_time``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from avance.kit.http import TimeText


class OwnKey(BaseModel):
    kid: str = Field(description="Key id: RFC 7638 JWK thumbprint of the Ed25519 public key.")
    alg: Literal["EdDSA"]
    public_key: str = Field(description="The raw Ed25519 public key, base64.")
    created_at: TimeText
    current: bool = Field(description="Whether the node signs with it now (a retired key stays listed until it expires).")
    expires_at: TimeText | None


class Identity(BaseModel):
    """What a partner registers of this node."""

    node_id: str
    country: str
    keys: list[OwnKey]


class InboundCounts(BaseModel):
    applied: int
    buffered: int
    rejected: int
    duplicates: int


class PartnerStatus(BaseModel):
    """One partner: the queue towards it, the link's state, and what it sent."""

    node_id: str
    country: str
    endpoint: str
    queue_depth: int = Field(description="Messages waiting to be delivered.")
    oldest_pending_at: TimeText | None
    oldest_pending_seconds: float | None
    delivered: int
    rejected: int
    dead_letters: int
    last_attempt_at: TimeText | None
    last_success_at: TimeText | None
    last_error_at: TimeText | None
    last_error: str | None
    failures: int = Field(description="Failed deliveries in a row.")
    next_attempt_at: TimeText | None
    inbound: InboundCounts


class ExchangeStatus(BaseModel):
    node_id: str | None
    at: TimeText
    partners: list[PartnerStatus]
    rejections: dict[str, int] = Field(description="Messages this node rejected, by reason code.")
    open_alerts: int


class Alert(BaseModel):
    id: int
    raised_at: TimeText
    kind: str = Field(description="dead_letter or rejected.")
    partner: str | None
    detail: dict[str, Any]
    acknowledged_at: TimeText | None


class PartnerKey(BaseModel):
    kid: str
    added_at: TimeText


class Partner(BaseModel):
    node_id: str
    country: str
    endpoint: str
    added_at: TimeText
    keys: list[PartnerKey]


class Published(BaseModel):
    message_ids: dict[str, str] = Field(description="The message queued to each partner, by node id.")


class PartnerReferenceRecord(BaseModel):
    """One office or holiday a partner published."""

    partner: str = Field(description="Node id of the administration that published it.")
    dataset: str = Field(description="offices or holidays.")
    code: str = Field(description="Office code, or the date of a holiday.")
    record: dict[str, Any]
    deleted: bool
    revision: int = Field(description="How many updates were applied to this record.")
    updated_at: TimeText
    message_id: str = Field(description="Last message that changed it.")
