"""The goods declaration as lodged by a declarant, named after the WCO Data Model 3.6.

These are plain data classes (Pydantic): structure and types only. The rules that need
reference data or the store are in ``validation.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from avance.kit.documents import (
    Amount,
    Code2,
    Container,
    ContainerId,
    CurrencyCode,
    IdentifiedParty,
    Identifier,
    Mass,
    NetMass,
    Party,
    Quantity,
    Strict,
    Text,
    TransportMeans,
    TransportMode,
)

HsCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6,10}$")]
ProcedureCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
PackageType = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2}$")]
Incoterm = Literal["EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP"]
DutyRegime = Literal["general", "community"]


class Packaging(Strict):
    """WCO DM Packaging: number and kind of packages (UN/ECE Rec. 21 code)."""

    quantity: int = Field(ge=0, le=10_000_000, description="WCO: Packaging/QuantityQuantity")
    type_code: PackageType = Field(description="WCO: Packaging/TypeCode (UN/ECE Rec. 21)")
    marks: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        None, description="WCO: Packaging/MarksNumbersID"
    )


class GoodsItem(Strict):
    """WCO DM GovernmentAgencyGoodsItem with its Commodity, Origin and GoodsMeasure."""

    sequence: int = Field(ge=1, le=999, description="WCO: GovernmentAgencyGoodsItem/SequenceNumeric")
    hs_code: HsCode = Field(description="National tariff line, 6 to 10 digits. WCO: Commodity/Classification/ID")
    description: Text = Field(description="WCO: Commodity/Description")
    origin_country: Code2 = Field(description="WCO: Origin/CountryCode")
    procedure_code: ProcedureCode | None = Field(
        None, description="Defaults to the declaration's. WCO: GovernmentProcedure/CurrentCode + PreviousCode"
    )
    duty_regime: DutyRegime = Field(
        "general", description="'community' claims the bloc preference. WCO: DutyTaxFee/DutyRegimeCode"
    )
    net_mass: NetMass = Field(description="kg, above zero. WCO: GoodsMeasure/NetNetWeightMeasure")
    gross_mass: Mass = Field(description="kg. WCO: GoodsMeasure/GrossMassMeasure")
    supplementary_quantity: Quantity | None = Field(None, description="WCO: GoodsMeasure/TariffQuantity")
    supplementary_unit: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")] | None = Field(
        None, description="UN/ECE Rec. 20 unit. WCO: TariffQuantity/unitCode"
    )
    invoice_amount: Amount = Field(
        description="Item price in the invoice currency. WCO: Commodity/InvoiceLine/ItemChargeAmount"
    )
    packages: list[Packaging] = Field(default_factory=list, max_length=20, description="WCO: Packaging")
    container_ids: list[ContainerId] = Field(
        default_factory=list, max_length=100, description="Containers of this item, among the declaration's. WCO: GovernmentAgencyGoodsItem/Commodity/TransportEquipment/ID"
    )


class GoodsDeclaration(Strict):
    """WCO DM Declaration (IM) with its GoodsShipment, as lodged before or after arrival."""

    type_code: Literal["IM"] = Field(
        "IM", description="Import declaration; this version handles imports. WCO: Declaration/TypeCode"
    )
    procedure_code: ProcedureCode = Field(
        "4000", description="Customs procedure requested + previous procedure, e.g. 4000 release for home use. WCO: GovernmentAgencyGoodsItem/GovernmentProcedure/CurrentCode + PreviousCode"
    )
    lrn: Identifier = Field(description="Local reference number, unique per declarant. WCO: Declaration/FunctionalReferenceID")
    declarant: IdentifiedParty = Field(description="WCO: Declaration/Declarant")
    importer: IdentifiedParty = Field(description="WCO: GoodsShipment/Importer")
    exporter: Party = Field(description="Exporter or seller. WCO: Declaration/Exporter, GoodsShipment/Seller")
    consignor: Party | None = Field(None, description="WCO: GoodsShipment/Consignor")
    consignee: Party | None = Field(None, description="WCO: GoodsShipment/Consignee")
    office_code: Identifier = Field(description="Office of entry/clearance. WCO: Declaration/DeclarationOfficeID")
    transport_mode_code: TransportMode = Field(
        description="1 sea, 2 rail, 3 road, 4 air, 5 post, 7 fixed installations, 8 inland waterway, 9 own propulsion. WCO: BorderTransportMeans/ModeCode"
    )
    transport_means: TransportMeans | None = Field(None, description="WCO: BorderTransportMeans")
    estimated_arrival: AwareDatetime = Field(description="Estimated arrival (UTC offset required). WCO: BorderTransportMeans/ArrivalDateTime (cargo report), no element in the DEC profile")
    transport_document_reference: Identifier | None = Field(
        None, description="Bill of lading or air waybill. WCO: GoodsShipment/PreviousDocument/ID with its TypeCode (TransportContractDocument/ID in the cargo report)"
    )
    manifest_reference: Identifier | None = Field(
        None, description="Cargo report this consignment travels on. WCO: PreviousDocument/ID"
    )
    ucr: Annotated[str, StringConstraints(min_length=1, max_length=35)] | None = Field(
        None, description="Unique consignment reference. WCO: UCR/ID"
    )
    split_consignment: bool = Field(
        False,
        description=(
            "True when this declaration clears one part of the consignment of its transport document, the other parts"
            " being declared separately (partial clearance): the same bill may then be declared again for the same goods,"
            " and each part is shown to the risk assessment. No WCO DM 3.6 element: a national extension of"
            " GoodsShipment/Consignment, as the partial declarations of ASYCUDA."
        ),
    )
    incoterm: Incoterm = Field(description="Incoterms 2020. WCO: TradeTerms/ConditionCode")
    invoice_currency: CurrencyCode = Field(description="WCO: InvoiceAmount/currencyID")
    invoice_amount: Amount = Field(description="WCO: Declaration/InvoiceAmount")
    freight_amount: Amount = Field(Decimal(0), description="In the invoice currency. WCO: CustomsValuation/FreightChargeAmount")
    insurance_amount: Amount = Field(Decimal(0), description="In the invoice currency. WCO: CustomsValuation/ChargeDeduction/OtherChargeDeductionAmount (insurance)")
    goods_item_quantity: int = Field(ge=1, le=999, description="WCO: Declaration/GoodsItemQuantity")
    total_package_quantity: int | None = Field(None, ge=0, description="WCO: Declaration/TotalPackageQuantity")
    containers: list[Container] = Field(default_factory=list, max_length=500, description="WCO: TransportEquipment")
    goods_items: list[GoodsItem] = Field(min_length=1, max_length=999, description="WCO: GovernmentAgencyGoodsItem")
