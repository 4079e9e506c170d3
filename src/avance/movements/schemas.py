"""What the mirror-control (``/matching``) and transit (``/transits``) routes answer.

The OpenAPI document describes these answers and FastAPI checks each one against them. The views
(``avance.movements.matching.views``, ``avance.movements.transit.views``) build plain dictionaries; these
models validate them without changing a key: a field a view leaves out (the deadline of a notice
already decided) is left out of the answer too, because the routes serialise with
``response_model_exclude_unset``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from avance.kit.http import DateText, DecimalText, TimeText
from avance.movements.payloads import OfficeRef

# --- mirror control ------------------------------------------------------------------------------


class NoticeSent(BaseModel):
    id: int
    export_reference: str
    message_id: str | None
    outcome: str
    location: str


class NoticeSummary(BaseModel):
    """One export notice in a list, with its matching outcome."""

    id: int
    direction: str = Field(description="received (this node matches it) or sent (this node's export).")
    partner: str = Field(description="Node id of the other administration.")
    export_reference: str
    exporting_country: str
    export_date: DateText
    outcome: str = Field(description="pending, conforme, non_conforme or non_retrouvee.")
    outcome_label: str
    declaration_id: int | None = Field(description="The import declaration it was matched with.")
    value_gap_percent: DecimalText | None = Field(description="(declared - exported) / exported x 100.")
    revenue_gap: DecimalText | None = Field(description="Duties and taxes on the exported value minus those declared.")
    currency: str | None


class NoticePage(BaseModel):
    items: list[NoticeSummary]
    page: int
    page_size: int
    total: int


class GapView(BaseModel):
    """One difference between the export and the import declaration."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="value, quantity, hs_code, origin, consignee or items.")
    label: str
    export_item: int | None = None
    import_item: int | None = None
    exported: str | None = None
    declared: str | None = None
    unit: str | None = None
    difference_percent: DecimalText | None = None


class NoticeView(NoticeSummary):
    """An export notice with its outcome, its gaps and the notice as received or sent."""

    destination_country: str
    ucr: str | None
    transport_document_reference: str | None
    consignee_id: str | None
    at: TimeText = Field(description="When it was received or sent.")
    import_reference: str | None
    exported_value: DecimalText | None
    declared_value: DecimalText | None
    gaps: list[GapView]
    notes: list[str] = Field(description="Checks that could not be made, in the caller's language.")
    decided_at: TimeText | None
    notice: dict[str, Any] = Field(description="The export declaration notice (ExportDeclarationNotice).")
    deadline: DateText | None = Field(None, description="A pending notice received: the day it becomes non retrouvée.")
    bill_declarations: list[int] = Field(
        default_factory=list, description="A notice received: the import declarations of its bill of lading it was compared with, together."
    )


class MirrorControl(BaseModel):
    """The mirror control of an import declaration: its outcome, the lane it suggests and why."""

    declaration_id: int
    outcome: str | None
    outcome_label: str | None
    suggested_lane: str | None
    reasons: list[dict[str, str]] = Field(description="Each reason's code and detail, in the caller's language.")
    matches: list[NoticeView]


# --- transit -------------------------------------------------------------------------------------


class Registered(BaseModel):
    mrn: str
    status: str
    status_label: str
    location: str


class StatusView(BaseModel):
    mrn: str
    status: str
    status_label: str


class TransitGuarantee(BaseModel):
    reference: str
    amount: DecimalText
    currency: str


class TransitSummary(BaseModel):
    """A transit movement in a list."""

    mrn: str
    role: str = Field(description="This node's part: departure, en_route or destination.")
    role_label: str
    status: str = Field(description="registered, in_transit, arrived or discharged.")
    status_label: str
    overdue: bool = Field(description="The time limit passed without arrival.")
    departure_office: str
    destination_office: str
    principal_id: str
    principal_name: str
    guarantee: TransitGuarantee
    registered_at: TimeText
    time_limit: TimeText


class TransitPage(BaseModel):
    items: list[TransitSummary]
    page: int
    page_size: int
    total: int


class TransitEvent(BaseModel):
    kind: str
    label: str
    office_code: str
    country: str
    at: TimeText
    source_node: str | None = Field(description="The partner node that reported it; None when recorded here.")
    actor: str | None
    data: dict[str, Any]


class TransitAlert(BaseModel):
    kind: str
    label: str
    raised_at: TimeText
    data: dict[str, Any]


class TransitDetail(TransitSummary):
    """A movement with its itinerary, events, alert and the transit declaration."""

    lrn: str
    departure_node: str
    itinerary: list[OfficeRef]
    status_at: TimeText
    guarantee_released_at: TimeText | None
    events: list[TransitEvent]
    alert: TransitAlert | None
    declaration: dict[str, Any] = Field(description="The transit declaration as registered (TransitDeclaration).")


class GuaranteeBalance(BaseModel):
    principal_id: str
    principal_name: str
    guarantee_reference: str
    currency: str
    held: DecimalText = Field(description="Amount held for the movements not yet discharged.")
    open_movements: int


class GuaranteeBalances(BaseModel):
    items: list[GuaranteeBalance]


class PendingNotification(BaseModel):
    """A passage, arrival or discharge notification received for a movement this node does not know
    yet: held (not a fact) until the transit declaration arrives, then applied or refused."""

    id: int
    mrn: str
    kind: str
    kind_label: str
    office_code: str
    country: str
    sender: str = Field(description="Node id of the partner that sent it.")
    message_id: str | None
    received_at: str
    state: str = Field(description="pending (held), applied or rejected (once the movement arrived).")
    state_label: str
    settled_at: str | None
    code: str | None = Field(description="Why it was refused (catalog key).")
    notification: dict[str, Any]


class PendingNotifications(BaseModel):
    items: list[PendingNotification]
