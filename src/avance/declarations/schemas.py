"""What the declaration routes answer, as Pydantic models.

The OpenAPI document describes these answers and FastAPI checks each one against them. The views
(``avance.declarations.views``) build plain dictionaries; these models validate them without
changing a key: a field a view leaves out (declarants see no score, no reasons) is left out of the
answer too, because the routes serialise with ``response_model_exclude_unset``. Amounts are exact
decimal text in plain notation, dates and times ISO 8601 text, as the views write them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from avance.kit.http import DateText, DecimalText, TimeText


class Reason(BaseModel):
    """Why the lane: a criterion that hit, in the caller's language."""

    code: str
    detail: str


class DutyLine(BaseModel):
    code: str = Field(description="The duty or tax, e.g. DD (droit de douane), TVA.")
    name: str = Field(description="Its name in the caller's language.")
    base: DecimalText
    rate: str | None = Field(description="The rate in percent (`20`, `0.8`); None for a specific duty.")
    amount: DecimalText


class Duties(BaseModel):
    currency: str | None = Field(description="ISO 4217 national currency.")
    lines: list[DutyLine]
    total: DecimalText | None


class DeclarationSummary(BaseModel):
    """One declaration in a list."""

    id: int
    lrn: str = Field(description="Local reference number, the declarant's own.")
    declarant_id: str
    importer_id: str
    importer_name: str
    office_code: str
    registration_date: DateText
    estimated_arrival: TimeText
    status: str
    status_label: str
    lane: str = Field(description="green, blue, yellow or red.")
    lane_label: str
    score: DecimalText | None = Field(None, description="Risk score; not shown to declarants.")
    currency: str
    customs_value: DecimalText | None
    duty_total: DecimalText | None


class DeclarationPage(BaseModel):
    items: list[DeclarationSummary]
    page: int
    page_size: int
    total: int


class GoodsItemView(BaseModel):
    sequence: int
    hs_code: str
    description: str
    origin_country: str
    procedure_code: str
    customs_value: DecimalText | None
    fob_value: DecimalText | None
    duties_due: bool = Field(description="False when the item's procedure suspends or exempts its duties.")
    duties: Duties


class EventView(BaseModel):
    kind: str = Field(description="lodged, assessed, lane_assigned, arrived, inspected, supplement, paid, released, rejected...")
    label: str
    at: TimeText
    actor: str | None
    data: dict[str, Any] = Field(description="What the event recorded (findings, amounts, the lane...).")


class DeclarationDetail(DeclarationSummary):
    """A declaration with its duties, lane, events and the document as lodged.

    Declarants see neither ``score``, ``reasons`` nor ``assessor``. Officers, analysts and
    administrators also see the sections other capabilities add, under their own key:
    ``mirror_control`` (the mirror-control outcome, as ``GET /matching/declarations/{id}`` gives it).
    """

    model_config = ConfigDict(extra="allow")

    lodged_at: TimeText
    procedure_code: str
    manifest_reference: str | None
    transport_document_reference: str | None
    invoice_currency: str
    invoice_amount: DecimalText | None
    duties: Duties
    amount_due: DecimalText | None = Field(description="Duties and taxes assessed at lodging plus every supplementary assessment since.")
    amount_paid: DecimalText | None = Field(description="Sum of the payments recorded (in parts, if need be).")
    amount_outstanding: DecimalText | None = Field(description="What is still to be paid; the goods are not released until it is 0.")
    reasons: list[Reason] | None = Field(None, description="Why this lane; not shown to declarants.")
    assessor: str | None = Field(None, description="What assigned the lane; not shown to declarants.")
    items: list[GoodsItemView]
    events: list[EventView]
    release_blockers: list[str] = Field(description="Why the goods may not be released yet, in the caller's language.")
    hours_arrival_to_release: float | None
    hours_lodging_to_release: float | None
    declaration: dict[str, Any] = Field(description="The goods declaration as lodged (GoodsDeclaration).")


class Lodged(BaseModel):
    id: int
    lrn: str
    status: str
    lane: str
    lane_label: str
    duty_total: str
    currency: str
    reasons: list[Reason] | None = Field(None, description="Why this lane; not shown to declarants (criteria are confidential).")
    location: str


class LifecycleView(BaseModel):
    id: int
    status: str
    status_label: str
    lane: str | None
    events: list[str]
    currency: str | None = Field(description="ISO 4217 national currency of the amounts.")
    amount_due: DecimalText | None = Field(description="Assessed at lodging plus every supplementary assessment.")
    amount_paid: DecimalText | None
    amount_outstanding: DecimalText | None = Field(description="Still to be paid.")


class DebtPayment(BaseModel):
    receipt: str | None
    amount: DecimalText = Field(description="The part of the payment set against this debt.")
    at: TimeText
    recorded_by: str | None


class DebtView(BaseModel):
    """What a post-clearance audit found owed by an importer after release, and what was paid
    against it (payments cover the oldest debt first)."""

    id: int
    declaration_id: int
    lrn: str
    location: str
    importer_id: str
    importer_name: str
    office_code: str
    currency: str
    amount: DecimalText
    paid: DecimalText
    outstanding: DecimalText
    status: str = Field(description="open or settled.")
    status_label: str
    reason: str | None
    source: str = Field(description="What assessed it: inspection (post-clearance audit), mirror_control...")
    assessed_by: str | None
    assessed_at: TimeText
    settled_at: TimeText | None
    payments: list[DebtPayment]


class DebtPage(BaseModel):
    items: list[DebtView]
    page: int
    page_size: int
    total: int
