"""The cargo report (manifest) lodged by a carrier, named after the WCO Data Model 3.6."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from avance.kit.documents import (
    Container,
    IdentifiedParty,
    Identifier,
    LoCode,
    Mass,
    Party,
    Strict,
    Text,
    TransportMeans,
    TransportMode,
)


class BillOfLading(Strict):
    """A transport document on the cargo report (WCO DM TransportContractDocument + Consignment)."""

    transport_document_reference: Identifier = Field(description="B/L or AWB number. WCO: TransportContractDocument/ID")
    consignee: Party = Field(description="WCO: GoodsShipment/Consignee")
    consignor: Party | None = Field(None, description="Shipper. WCO: Consignment/Consignor")
    description: Text = Field(description="WCO: Commodity/Description")
    package_quantity: int = Field(ge=0, le=10_000_000, description="WCO: TotalPackageQuantity (per transport document)")
    package_type: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2}$")] | None = Field(
        None, description="UN/ECE Rec. 21. WCO: Packaging/TypeCode"
    )
    gross_mass: Mass = Field(description="kg. WCO: TotalGrossMassMeasure (per transport document)")
    containers: list[Container] = Field(default_factory=list, max_length=500, description="WCO: TransportEquipment with Seal")


class CargoReport(Strict):
    """WCO DM cargo report (CUSCAR-equivalent): one voyage or flight of one conveyance."""

    reference: Identifier = Field(description="Manifest number. WCO: Declaration/FunctionalReferenceID")
    carrier: IdentifiedParty = Field(description="WCO: Declaration/Consignment/Carrier")
    office_code: Identifier = Field(description="Office of entry. WCO: Declaration/DeclarationOfficeID")
    transport_mode_code: TransportMode = Field(description="WCO: BorderTransportMeans/ModeCode")
    voyage_number: Identifier = Field(description="Voyage or flight. WCO: BorderTransportMeans/JourneyID")
    conveyance: TransportMeans = Field(description="WCO: BorderTransportMeans")
    port_of_loading: LoCode = Field(description="WCO: LoadingLocation/ID")
    port_of_discharge: LoCode = Field(description="WCO: UnloadingLocation/ID (in this node's country)")
    estimated_arrival: AwareDatetime = Field(description="WCO: BorderTransportMeans/ArrivalDateTime")
    bills_of_lading: list[BillOfLading] = Field(min_length=1, max_length=5000, description="Transport documents on the conveyance. WCO: Consignment/TransportContractDocument")
