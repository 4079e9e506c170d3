"""The cargo report (manifest) lodged by a carrier, named after the WCO Data Model 3.6."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

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
    place_of_loading: LoCode | None = Field(
        None, description="Where the goods are loaded, when the report is filed before loading (UN/LOCODE). WCO: LoadingLocation/ID"
    )
    loading_date: AwareDatetime | None = Field(None, description="When the goods are (to be) loaded. WCO: LoadingLocation/LoadingDateTime")
    loaded: bool = Field(
        True, description="Whether the goods are on board. A report filed before loading says false; bills can then be referred (pre-loading referrals)."
    )


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
    importer_id: str | None = None  # who takes the goods: compared with the bill's consignee in the write-off report

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


# --- amendments: what changed from one version of a cargo report to the next -----------------

BILL_FIELDS = ("consignee", "consignor", "description", "package_quantity", "package_type", "gross_mass", "containers")
"""The fields of a bill of lading an amendment is compared on."""

REPORT_FIELDS = (
    "carrier",
    "office_code",
    "transport_mode_code",
    "voyage_number",
    "conveyance",
    "port_of_loading",
    "port_of_discharge",
    "estimated_arrival",
    "place_of_loading",
    "loading_date",
    "loaded",
)
"""The fields of the cargo report itself an amendment is compared on."""


def _plain(value: Any) -> Any:
    """A field's value as JSON (what is stored and shown)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _differences(before: BaseModel, after: BaseModel, fields: Iterable[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for name in fields:
        old, new = _plain(getattr(before, name)), _plain(getattr(after, name))
        if old != new:
            found[name] = {"from": old, "to": new}
    return found


def changes(before: CargoReport, after: CargoReport) -> dict[str, Any]:
    """What an amendment changes: the report's own fields, and the bills added, removed and
    changed (with each changed field's old and new value), bills named by their reference."""
    old_bills = {b.transport_document_reference: b for b in before.bills_of_lading}
    new_bills = {b.transport_document_reference: b for b in after.bills_of_lading}
    changed = []
    for reference, bill in new_bills.items():
        if reference in old_bills:
            fields = _differences(old_bills[reference], bill, BILL_FIELDS)
            if fields:
                changed.append({"transport_document_reference": reference, "fields": fields})
    return {
        "report": _differences(before, after, REPORT_FIELDS),
        "bills_added": [r for r in new_bills if r not in old_bills],
        "bills_removed": [r for r in old_bills if r not in new_bills],
        "bills_changed": changed,
    }


# --- pre-loading referrals -----------------------------------------------------------------


class ReferralKind(str, Enum):
    """What customs asks of the carrier about a bill before loading (as the EU's ICS2 does)."""

    REQUEST_FOR_INFORMATION = "request_for_information"  # the carrier answers with information
    REQUEST_FOR_SCREENING = "request_for_screening"  # the carrier screens the goods and reports the result
    DO_NOT_LOAD = "do_not_load"  # the goods must not be loaded; no declaration is lodged on the bill until lifted


class ReferralState(str, Enum):
    OPEN = "open"  # waiting for the carrier (a do-not-load: for customs to lift it)
    ANSWERED = "answered"  # the carrier answered; an analyst reads the answer and lifts it
    LIFTED = "lifted"  # closed by an analyst: nothing more is asked; a do-not-load no longer blocks
    EXPIRED = "expired"  # the deadline passed with no answer (a do-not-load still blocks until lifted)


class ScreeningResult(str, Enum):
    NOTHING_FOUND = "nothing_found"  # screened, nothing of concern
    FOUND = "found"  # screened, something of concern: the note says what
    NOT_SCREENED = "not_screened"  # could not be screened: the note says why


DEFAULT_DEADLINE_HOURS = 24
"""How long the carrier has to answer when the analyst gives no deadline."""


class ReferralRequest(Strict):
    """An analyst refers a bill of lading of a cargo report filed before loading."""

    kind: ReferralKind
    reason: Text = Field(description="What the analyst asks or why the goods must not be loaded; the carrier reads it.")
    deadline: AwareDatetime | None = Field(None, description=f"When the carrier must answer by; default {DEFAULT_DEADLINE_HOURS} hours from now.")


class ReferralAnswer(Strict):
    """The carrier's answer: information, a screening result, or both."""

    information: Text | None = Field(None, description="The information asked for (request for information).")
    screening_result: ScreeningResult | None = Field(None, description="The result of the screening (request for screening).")
    note: Text | None = Field(None, description="Anything the carrier adds (what was found, why it could not screen).")


class ReferralLift(Strict):
    """An analyst closes a referral: nothing more is asked, a do-not-load no longer blocks."""

    note: Text | None = Field(None, description="Why the referral is lifted.")


def referral_state(stored: str, deadline: datetime, now: datetime) -> ReferralState:
    """A referral's state at ``now``: an open one past its deadline is expired."""
    state = ReferralState(stored)
    if state is ReferralState.OPEN and deadline < now:
        return ReferralState.EXPIRED
    return state


def blocks_lodging(kind: str, state: ReferralState) -> bool:
    """A do-not-load blocks the declarations of its bill until an analyst lifts it."""
    return kind == ReferralKind.DO_NOT_LOAD.value and state is not ReferralState.LIFTED


# --- write-off (apurement) report ------------------------------------------------------------


class FindingKind(str, Enum):
    """What the write-off report finds about a bill of lading."""

    NOT_DECLARED = "not_declared"  # no declaration some days after arrival
    OVER_DECLARED = "over_declared"  # declarations cleared more packages or mass than the bill carries
    UNDER_DECLARED = "under_declared"  # some days after arrival, part of the bill is still not declared
    CONSIGNEE_MISMATCH = "consignee_mismatch"  # a declaration's importer is not the bill's named consignee


DEFAULT_WRITE_OFF_DAYS = 7
"""Days after arrival before a bill not (fully) declared is reported, unless the office has its own."""


@dataclass(frozen=True, slots=True)
class BillPosition:
    """What the report needs of one bill of the latest version of its cargo report."""

    manifest_id: int
    manifest_reference: str
    office_code: str
    estimated_arrival: datetime
    transport_document_reference: str
    consignee_id: str | None
    consignee_name: str
    packages_on_bill: int
    gross_mass_on_bill: Decimal
    packages_declared: int
    gross_mass_declared: Decimal
    declarations: int
    importer_ids: frozenset[str]


def findings(bill: BillPosition, *, days: int, now: datetime) -> list[FindingKind]:
    """What is wrong with a bill's write-off at ``now``, ``days`` after arrival being the limit
    for declaring it (pure: the rules of the write-off report)."""
    found: list[FindingKind] = []
    due = now >= bill.estimated_arrival + timedelta(days=days)
    if bill.packages_declared > bill.packages_on_bill or bill.gross_mass_declared > bill.gross_mass_on_bill:
        found.append(FindingKind.OVER_DECLARED)
    elif due and bill.declarations == 0:
        found.append(FindingKind.NOT_DECLARED)
    elif due and (bill.packages_declared < bill.packages_on_bill or bill.gross_mass_declared < bill.gross_mass_on_bill):
        found.append(FindingKind.UNDER_DECLARED)
    if bill.consignee_id is not None and not is_to_order(bill.consignee_name) and any(i != bill.consignee_id for i in bill.importer_ids):
        found.append(FindingKind.CONSIGNEE_MISMATCH)
    return found
