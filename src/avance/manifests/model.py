"""The cargo report (manifest) lodged by a carrier, named after the WCO Data Model 3.6."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
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


# --- what declarations write off a bill ----------------------------------------------------

_TO_ORDER = re.compile(r"^(TO (THE )?ORDER( OF)?|ORDER OF|A (L )?ORDRE( DE)?|A L ORDRE( DE)?)\b")
_BANK = re.compile(r"\b(BANK|BANQUE|BANCO|BANCA)\b")


def _plain_name(name: str) -> str:
    """Capitals without accents or punctuation, single spaces: 'À l’ordre de' reads 'A L ORDRE DE'."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^A-Za-z0-9]+", " ", stripped).upper().split())


def is_to_order(consignee_name: str) -> bool:
    """Whether a bill's consignee makes it negotiable: made out "to order" (TO ORDER, TO THE ORDER
    OF ..., ORDER OF ..., A ORDRE, A L'ORDRE DE ...) or consigned to a bank (a word BANK, BANQUE,
    BANCO or BANCA in the name). Such a bill is endorsed to whoever pays: its holder, not the
    named consignee, takes the goods."""
    name = _plain_name(consignee_name)
    return bool(_TO_ORDER.match(name) or _BANK.search(name))


@dataclass(frozen=True, slots=True)
class BillFacts:
    """What lodging a declaration needs to know of a bill of lading on a lodged cargo report."""

    consignee_id: str | None
    consignee_name: str

    @property
    def to_order(self) -> bool:
        return is_to_order(self.consignee_name)


@dataclass(frozen=True, slots=True)
class Claim:
    """What one declaration declares against a transport document: the figures it writes off and
    what tells whether two declarations declare the same goods."""

    transport_document_reference: str
    manifest_reference: str | None  # the cargo report cited, if any
    packages: int
    gross_mass: Decimal
    hs_headings: frozenset[str]
    container_ids: frozenset[str]
    split: bool

    def same_goods(self, hs_headings: Iterable[str], container_ids: Iterable[str]) -> bool:
        """The same goods as another declaration of the same document: an HS heading or a container in common."""
        return not self.hs_headings.isdisjoint(hs_headings) or not self.container_ids.isdisjoint(container_ids)


@dataclass(frozen=True, slots=True)
class Balance:
    """A bill's write-off balance: what the carrier reported and what declarations wrote off."""

    packages_on_bill: int
    gross_mass_on_bill: Decimal
    packages_written_off: int
    gross_mass_written_off: Decimal
