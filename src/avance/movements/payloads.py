"""Payloads of the business messages nodes exchange: export-import matching and transit.

Six message types, named after the WCO Data Model 3.x INTERGOV concepts they carry:

- ``export-declaration-notice``: exporting node -> importing node (mirror control);
- ``match-result``: importing node -> exporting node (the outcome of the mirror control);
- ``transit-declaration``: office of departure -> en-route and destination nodes;
- ``passage-notification``: en-route node -> departure and destination nodes;
- ``arrival-notification``: destination node -> departure node;
- ``discharge``: destination node -> departure node (releases the guarantee).

Money travels as decimal strings with an ISO 4217 currency code next to them; timestamps are
ISO 8601 in UTC (``Z``); dates are ISO 8601 calendar dates. The published JSON Schema files
(``schemas/v1/<type>.schema.json``) are generated from these models by ``write_schemas`` and are
what the inbox enforces; the models add the cross-field rules a schema cannot say.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, WithJsonSchema, model_validator

from avance.exchange.envelope import SCHEMA_DIR
from avance.kit.money import is_currency

SCHEMA_VERSION = "1"
SCHEMA_BASE_ID = "https://avance.example.org/schemas/exchange/v1/"

# --- building blocks ---------------------------------------------------------------------------

Code2 = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=35, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._-]*$")]
HsCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6,10}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=70)]
Remarks = Annotated[str, StringConstraints(min_length=1, max_length=512)]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")]
PackageType = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2}$")]
SealId = Annotated[str, StringConstraints(min_length=1, max_length=35)]
ContainerId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{4}[0-9]{7}$")]
MRN_PATTERN = r"^[0-9]{2}[A-Z]{2}[A-Z0-9]{13}[0-9]$"
Mrn = Annotated[str, StringConstraints(pattern=MRN_PATTERN)]

_UNSIGNED = r"^[0-9]{1,18}(\.[0-9]{1,6})?$"
_SIGNED = r"^-?[0-9]{1,18}(\.[0-9]{1,6})?$"
_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"


def _plain(value: Decimal) -> str:
    """Exact decimal text in plain notation (never ``1E+3``)."""
    return format(value, "f")


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


DecimalText = Annotated[
    Decimal,
    Field(ge=0, max_digits=24, decimal_places=6, allow_inf_nan=False),
    PlainSerializer(_plain, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _UNSIGNED}),
]
"""A non-negative decimal number written as a string ("1250.5")."""

SignedDecimalText = Annotated[
    Decimal,
    Field(max_digits=24, decimal_places=6, allow_inf_nan=False),
    PlainSerializer(_plain, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _SIGNED}),
]
"""A decimal number, possibly negative, written as a string ("-12.5")."""

UtcDateTime = Annotated[
    AwareDatetime,
    AfterValidator(_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _UTC}),
]
"""An ISO 8601 timestamp in UTC, e.g. ``2026-06-01T09:30:00Z``."""


def _known_currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code} is not an ISO 4217 currency")
    return code


class Message(BaseModel):
    """A payload refuses unknown fields: a misspelt field is an error, not lost data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_payload(self) -> dict[str, Any]:
        """The JSON form sent in an envelope (absent optional fields are left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class MonetaryAmount(Message):
    """An amount with its currency: WCO DM amounts carry a ``currencyID`` attribute."""

    amount: DecimalText = Field(description="The amount, as a decimal string.")
    currency: Annotated[CurrencyCode, AfterValidator(_known_currency)] = Field(description="ISO 4217 code. WCO: the amount's currencyID")


class SignedAmount(Message):
    """A difference of amounts, which may be negative, with its currency."""

    amount: SignedDecimalText = Field(description="The difference, as a decimal string (negative when the import paid more).")
    currency: Annotated[CurrencyCode, AfterValidator(_known_currency)] = Field(description="ISO 4217 code. WCO: the amount's currencyID")


class Trader(Message):
    """A party to the movement. WCO: Exporter, Consignee, Principal (Name, ID, Address/CountryCode)."""

    id: Identifier | None = Field(None, description="Identification number (TIN). WCO: <party>/ID")
    name: Name = Field(description="WCO: <party>/Name")
    country: Code2 | None = Field(None, description="ISO 3166-1 alpha-2. WCO: <party>/Address/CountryCode")


class IdentifiedTrader(Trader):
    id: Identifier = Field(description="Identification number (TIN). WCO: <party>/ID")


class OfficeRef(Message):
    """A customs office and its country. WCO: <office>/ID."""

    office_code: Identifier = Field(description="Customs office code. WCO: DepartureOffice/ID, TransitOffice/ID, DestinationOffice/ID, ExitOffice/ID")
    country: Code2 = Field(description="ISO 3166-1 alpha-2 of the administration the office belongs to")


# --- export-declaration-notice -----------------------------------------------------------------


class ExportItem(Message):
    """One goods item of the export declaration. WCO: GovernmentAgencyGoodsItem."""

    sequence: int = Field(ge=1, le=999, description="WCO: GovernmentAgencyGoodsItem/SequenceNumeric")
    hs_code: HsCode = Field(description="Tariff line of the exporting country (its first six digits are HS 2022). WCO: Commodity/Classification/ID")
    description: Text = Field(description="WCO: Commodity/Description")
    origin_country: Code2 = Field(description="WCO: Origin/CountryCode")
    net_mass: DecimalText = Field(description="kg. WCO: GoodsMeasure/NetNetWeightMeasure")
    supplementary_quantity: DecimalText | None = Field(None, description="WCO: GoodsMeasure/TariffQuantity")
    supplementary_unit: UnitCode | None = Field(None, description="UN/ECE Rec. 20 unit. WCO: TariffQuantity/unitCode")
    statistical_value: MonetaryAmount = Field(description="FOB value at the border of the exporting country. WCO: GovernmentAgencyGoodsItem/StatisticalValueAmount")

    @model_validator(mode="after")
    def _unit_with_quantity(self) -> ExportItem:
        if (self.supplementary_quantity is None) != (self.supplementary_unit is None):
            raise ValueError("supplementary_quantity and supplementary_unit go together")
        return self


class ExportTotals(Message):
    """Totals of the export declaration, checked against its items."""

    goods_item_quantity: int = Field(ge=1, le=999, description="WCO: Declaration/GoodsItemQuantity")
    net_mass: DecimalText = Field(description="kg, sum of the items' net masses")
    statistical_value: MonetaryAmount = Field(description="Sum of the items' statistical values, in their currency")


class ExportDeclarationNotice(Message):
    """Exporting node -> importing node: an export declaration accepted by the exporting administration.

    WCO DM INTERGOV: the export Declaration (TypeCode EX) shared with the administration of the
    country of destination, so that it can be matched with the import declaration (mirror control).
    """

    export_declaration_reference: Identifier = Field(description="Registration number of the export declaration (MRN) at the exporting administration. WCO: Declaration/ID")
    ucr: Identifier | None = Field(None, description="Unique consignment reference (WCO UCR recommendation). WCO: UCR/ID")
    transport_document_reference: Identifier | None = Field(None, description="Bill of lading, air waybill or road consignment note. WCO: TransportContractDocument/ID")
    exporter: IdentifiedTrader = Field(description="WCO: Exporter")
    consignee: Trader = Field(description="The consignee in the importing country; its id is the importer's TIN there when known. WCO: GoodsShipment/Consignee")
    exporting_country: Code2 = Field(description="WCO: ExportCountry/ID")
    destination_country: Code2 = Field(description="WCO: DestinationCountry/ID")
    office_of_exit: Identifier = Field(description="Office where the goods leave the exporting country. WCO: ExitOffice/ID")
    export_date: date = Field(description="Date the export declaration was accepted (ISO 8601). WCO: Declaration/AcceptanceDateTime (date part)")
    items: list[ExportItem] = Field(min_length=1, max_length=999, description="WCO: GovernmentAgencyGoodsItem")
    totals: ExportTotals = Field(description="Declaration-level totals")

    @model_validator(mode="after")
    def _consistent(self) -> ExportDeclarationNotice:
        if self.ucr is None and self.transport_document_reference is None:
            raise ValueError("a UCR or a transport document reference is required to match the import")
        if self.exporting_country == self.destination_country:
            raise ValueError("the destination country must differ from the exporting country")
        sequences = [item.sequence for item in self.items]
        if sorted(sequences) != list(range(1, len(sequences) + 1)):
            raise ValueError("item sequence numbers must run 1, 2, 3 ...")
        if self.totals.goods_item_quantity != len(self.items):
            raise ValueError("totals.goods_item_quantity must equal the number of items")
        currencies = {item.statistical_value.currency for item in self.items} | {self.totals.statistical_value.currency}
        if len(currencies) != 1:
            raise ValueError("every statistical value must be in the same currency")
        if sum((item.statistical_value.amount for item in self.items), Decimal(0)) != self.totals.statistical_value.amount:
            raise ValueError("totals.statistical_value must equal the sum of the items")
        if sum((item.net_mass for item in self.items), Decimal(0)) != self.totals.net_mass:
            raise ValueError("totals.net_mass must equal the sum of the items")
        return self


# --- match-result --------------------------------------------------------------------------------

Outcome = Literal["conforme", "non_conforme", "non_retrouvee"]
GapKind = Literal["value", "quantity", "hs_code", "origin", "consignee", "items"]


class Gap(Message):
    """One difference between the export and the import declaration."""

    kind: GapKind = Field(description="value, quantity (net mass or supplementary quantity), hs_code (HS6 differs), origin, consignee, items (an item on one side only)")
    export_item: int | None = Field(None, ge=1, le=999, description="Sequence of the export item concerned")
    import_item: int | None = Field(None, ge=1, le=999, description="Sequence of the import item concerned")
    exported: Annotated[str, StringConstraints(max_length=70)] | None = Field(None, description="What the export declaration says (a value converted to the importing country's currency, a quantity, a code)")
    declared: Annotated[str, StringConstraints(max_length=70)] | None = Field(None, description="What the import declaration says")
    unit: Annotated[str, StringConstraints(max_length=3)] | None = Field(None, description="Currency (ISO 4217) or UN/ECE Rec. 20 unit (KGM for net mass) of exported and declared")
    difference_percent: SignedDecimalText | None = Field(None, description="(declared - exported) / exported x 100, one decimal")


class Tolerances(Message):
    value_percent: DecimalText = Field(description="Largest value difference accepted as conforme, percent")
    quantity_percent: DecimalText = Field(description="Largest quantity difference accepted as conforme, percent")


class MatchResult(Message):
    """Importing node -> exporting node: the outcome of matching an export declaration (mirror control).

    *conforme*: the import declaration matches; *non_conforme*: it was found with gaps;
    *non_retrouvee*: no import declaration was found within the deadline (the exporter's
    guarantee stays blocked).
    """

    export_declaration_reference: Identifier = Field(description="The export declaration matched. WCO: Declaration/ID (of the export)")
    exporting_country: Code2 = Field(description="WCO: ExportCountry/ID")
    importing_country: Code2 = Field(description="WCO: ImportCountry/ID")
    outcome: Outcome = Field(description="conforme, non_conforme or non_retrouvee")
    decided_at: UtcDateTime = Field(description="When the importing administration reached this outcome")
    import_declaration_reference: Identifier | None = Field(None, description="Registration of the matched import declaration at the importing administration. WCO: Declaration/ID (of the import)")
    import_registration_date: date | None = Field(None, description="Registration date of the import declaration. WCO: Declaration/AcceptanceDateTime (date part)")
    exported_value: MonetaryAmount | None = Field(None, description="Export statistical value converted to the importing country's currency at its rate of the import registration date")
    declared_value: MonetaryAmount | None = Field(None, description="Declared import FOB value of the matched items, in the importing country's currency")
    value_gap_percent: SignedDecimalText | None = Field(None, description="(declared - exported) / exported x 100, one decimal")
    revenue_gap: SignedAmount | None = Field(None, description="Duties and taxes on the exported value minus those declared, in the importing country's currency")
    gaps: list[Gap] = Field(default_factory=list, max_length=5000, description="Every difference found (empty when conforme)")
    tolerances: Tolerances | None = Field(None, description="Tolerances the importing administration applied")
    notes: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default_factory=list, max_length=20, description="Codes of checks that could not be made (e.g. matching.note.no_rate)")

    @model_validator(mode="after")
    def _consistent(self) -> MatchResult:
        if self.outcome == "non_retrouvee" and self.import_declaration_reference is not None:
            raise ValueError("a non_retrouvee result names no import declaration")
        if self.outcome != "non_retrouvee" and self.import_declaration_reference is None:
            raise ValueError("a conforme or non_conforme result names the import declaration")
        if self.outcome == "conforme" and self.gaps:
            raise ValueError("a conforme result has no gaps")
        if self.outcome == "non_conforme" and not self.gaps:
            raise ValueError("a non_conforme result lists its gaps")
        return self


# --- transit -------------------------------------------------------------------------------------


class Guarantee(Message):
    """The guarantee covering the duties at stake during the movement. WCO: ObligationGuarantee."""

    reference: Identifier = Field(description="Guarantee reference number (GRN). WCO: ObligationGuarantee/ReferenceID")
    amount: MonetaryAmount = Field(description="Amount engaged for this movement. WCO: ObligationGuarantee/AmountAmount")
    type_code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")] | None = Field(None, description="Kind of guarantee (comprehensive, individual, ...). WCO: ObligationGuarantee/SecurityDetailsCode")


class Packages(Message):
    quantity: int = Field(ge=0, le=10_000_000, description="WCO: Packaging/QuantityQuantity")
    type_code: PackageType = Field(description="UN/ECE Rec. 21. WCO: Packaging/TypeCode")


class TransitItem(Message):
    """One goods item in transit. WCO: GovernmentAgencyGoodsItem."""

    sequence: int = Field(ge=1, le=999, description="WCO: GovernmentAgencyGoodsItem/SequenceNumeric")
    hs_code: HsCode = Field(description="WCO: Commodity/Classification/ID")
    description: Text = Field(description="WCO: Commodity/Description")
    origin_country: Code2 | None = Field(None, description="WCO: Origin/CountryCode")
    gross_mass: DecimalText = Field(description="kg. WCO: GoodsMeasure/GrossMassMeasure")
    net_mass: DecimalText | None = Field(None, description="kg. WCO: GoodsMeasure/NetNetWeightMeasure")
    packages: Packages | None = Field(None, description="WCO: Packaging")
    container_ids: list[ContainerId] = Field(default_factory=list, max_length=100, description="ISO 6346. WCO: TransportEquipment/ID")


class TransitMeans(Message):
    """The means of transport crossing the borders. WCO: BorderTransportMeans."""

    mode_code: Literal[1, 2, 3, 4, 5, 7, 8, 9] = Field(description="1 sea, 2 rail, 3 road, 4 air ... WCO: BorderTransportMeans/ModeCode")
    identification: Identifier = Field(description="Registration plate, IMO number or flight. WCO: BorderTransportMeans/ID")
    nationality: Code2 | None = Field(None, description="WCO: BorderTransportMeans/RegistrationNationalityCode")


class TransitDeclaration(Message):
    """Office of departure -> en-route and destination nodes, before the goods move (SIGMAT-style).

    WCO DM INTERGOV: the transit Declaration with its offices, principal, guarantee, goods, seals
    and transport means. The movement reference number (MRN) identifies the movement everywhere.
    """

    mrn: Mrn = Field(description="Movement reference number: year (2), country of departure (2), 13 characters, check digit. WCO: Declaration/ID")
    lrn: Identifier = Field(description="The principal's local reference. WCO: Declaration/FunctionalReferenceID")
    departure_office: OfficeRef = Field(description="WCO: DepartureOffice/ID")
    itinerary: list[OfficeRef] = Field(default_factory=list, max_length=20, description="Offices of passage (transit offices) in route order. WCO: TransitOffice/ID, Itinerary/RoutingCountryCode")
    destination_office: OfficeRef = Field(description="WCO: DestinationOffice/ID")
    principal: IdentifiedTrader = Field(description="Holder of the transit procedure, liable for the duties. WCO: Principal")
    guarantee: Guarantee = Field(description="WCO: ObligationGuarantee")
    transport_means: TransitMeans = Field(description="WCO: BorderTransportMeans")
    seals: list[SealId] = Field(default_factory=list, max_length=99, description="Customs seals affixed at departure. WCO: Seal/ID")
    items: list[TransitItem] = Field(min_length=1, max_length=999, description="WCO: GovernmentAgencyGoodsItem")
    registered_at: UtcDateTime = Field(description="When the office of departure accepted the declaration. WCO: Declaration/AcceptanceDateTime")
    time_limit: UtcDateTime = Field(description="Latest time for presenting the goods at the office of destination")

    @model_validator(mode="after")
    def _consistent(self) -> TransitDeclaration:
        if self.time_limit <= self.registered_at:
            raise ValueError("time_limit must come after registered_at")
        if self.destination_office.country == self.departure_office.country and not self.itinerary:
            raise ValueError("a transit with neither a foreign destination nor an office of passage crosses no border")
        offices = [o.office_code for o in self.itinerary]
        if len(set(offices)) != len(offices):
            raise ValueError("an office of passage appears twice in the itinerary")
        sequences = [item.sequence for item in self.items]
        if sorted(sequences) != list(range(1, len(sequences) + 1)):
            raise ValueError("item sequence numbers must run 1, 2, 3 ...")
        return self


class PassageNotification(Message):
    """En-route node -> departure and destination nodes: the goods passed an office of passage
    (SIGMAT's passage confirmation; NCTS calls the same message "notification of crossing frontier")."""

    mrn: Mrn = Field(description="WCO: Declaration/ID")
    office: OfficeRef = Field(description="The office of passage. WCO: TransitOffice/ID")
    passed_at: UtcDateTime = Field(description="When the goods passed the office")
    seals_intact: bool = Field(description="Whether the customs seals were found intact")
    remarks: Remarks | None = Field(None, description="WCO: AdditionalInformation/Content")


class ArrivalNotification(Message):
    """Destination node -> departure node: the goods were presented at the office of destination."""

    mrn: Mrn = Field(description="WCO: Declaration/ID")
    office: OfficeRef = Field(description="The actual office of destination. WCO: DestinationOffice/ID")
    arrived_at: UtcDateTime = Field(description="When the goods were presented at the office of destination")
    seals_intact: bool = Field(description="Whether the customs seals were found intact")
    remarks: Remarks | None = Field(None, description="WCO: AdditionalInformation/Content")


class Discharge(Message):
    """Destination node -> departure node: the movement is discharged (apurement); the guarantee
    engaged for it is released at the office of departure."""

    mrn: Mrn = Field(description="WCO: Declaration/ID")
    office: OfficeRef = Field(description="The office that discharged the movement")
    discharged_at: UtcDateTime = Field(description="When the movement was discharged")
    guarantee_reference: Identifier = Field(description="The guarantee released. WCO: ObligationGuarantee/ReferenceID")
    released_amount: MonetaryAmount = Field(description="Amount of the guarantee released. WCO: ObligationGuarantee/AmountAmount")
    remarks: Remarks | None = Field(None, description="Reservations at discharge. WCO: AdditionalInformation/Content")


# --- registry and schemas -------------------------------------------------------------------

PAYLOADS: dict[str, type[Message]] = {
    "export-declaration-notice": ExportDeclarationNotice,
    "transit-declaration": TransitDeclaration,
    "passage-notification": PassageNotification,
    "arrival-notification": ArrivalNotification,
    "discharge": Discharge,
    "match-result": MatchResult,
}
"""Message type -> payload model."""


def schema(message_type: str) -> dict[str, Any]:
    """The published JSON Schema (Draft 2020-12) of ``message_type``'s payload."""
    model = PAYLOADS[message_type]
    body = model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_ID}{message_type}.schema.json",
        "title": f"{message_type} (version {SCHEMA_VERSION})",
        **{k: v for k, v in body.items() if k != "title"},
    }


def schema_text(message_type: str) -> str:
    return json.dumps(schema(message_type), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write the schema files of the six business messages; returns the paths written.

    Run ``python -m avance.movements.payloads`` after changing a model; a test fails while the
    files are out of date.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for message_type in PAYLOADS:
        path = directory / f"{message_type}.schema.json"
        path.write_text(schema_text(message_type), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - maintainer's tool
    for path in write_schemas():
        print(path)
