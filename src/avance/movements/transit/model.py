"""Transit, SIGMAT-style: the rules, pure.

The office of departure registers a transit declaration with its guarantee; every node on the
itinerary confirms passage, the destination confirms arrival and discharges the movement, which
releases the guarantee at the office of departure. Every node keeps its own view of a movement:
its status is derived from the events it knows (``registered`` < ``in_transit`` < ``arrived`` <
``discharged``), so notifications from different nodes may arrive in any order. A movement is
*overdue* when its time limit has passed without an arrival.

This module holds what can be decided without the store: the movement reference number, the
state machine, the requests officers send, the checks on their timestamps and on the node's part
in a movement. ``avance.movements.transit.service`` applies them inside the caller's transaction.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from avance.kit.errors import Conflict, Issue, ValidationFailed
from avance.movements.payloads import Guarantee, IdentifiedTrader, Identifier, Remarks, SealId, TransitItem, TransitMeans, UtcDateTime
from avance.reference.containers import CHARACTER_VALUES, check_digit

STATUSES = ("registered", "in_transit", "arrived", "discharged")
"""Statuses in order of progress."""
OPEN = ("registered", "in_transit")
"""Statuses of a movement whose goods have not reached the office of destination."""
ROLES = ("departure", "en_route", "destination")
STATUS_OF_EVENT = {"registered": "registered", "passage": "in_transit", "arrival": "arrived", "discharge": "discharged"}
"""The status each kind of event brings a movement to."""

# --- the movement reference number ---------------------------------------------------------

_ALPHABET = string.ascii_uppercase + string.digits


def mrn_check_digit(body: str) -> str:
    """Check digit of the first 17 characters of an MRN: the ISO 6346 weighting of container
    numbers (``avance.reference.containers``), modulo 11, 10 -> 0, as the EU MRN uses."""
    return str(check_digit(body))


def make_mrn(country: str, at: datetime) -> str:
    """A new movement reference number: year (2 digits), country (2), 13 random characters, check digit."""
    body = f"{at.year % 100:02d}{country}" + "".join(secrets.choice(_ALPHABET) for _ in range(13))
    return body + mrn_check_digit(body)


def mrn_ok(mrn: str) -> bool:
    return len(mrn) == 18 and all(ch in CHARACTER_VALUES for ch in mrn) and mrn_check_digit(mrn[:17]) == mrn[17]


# --- the state machine (pure) ------------------------------------------------------------------


def status_of(kinds: Iterable[str]) -> str:
    """The status a movement has reached, given the kinds of its events."""
    reached = [STATUSES.index(STATUS_OF_EVENT[k]) for k in kinds if k in STATUS_OF_EVENT]
    return STATUSES[max(reached)] if reached else "registered"


def check_passage(status: str) -> None:
    if status in ("arrived", "discharged"):
        raise Conflict("transit.conflict.passage_after_arrival")


def check_arrival(status: str) -> None:
    if status in ("arrived", "discharged"):
        raise Conflict("transit.conflict.already_arrived")


def check_discharge(status: str) -> None:
    if status == "discharged":
        raise Conflict("transit.conflict.already_discharged")
    if status != "arrived":
        raise Conflict("transit.conflict.not_arrived")


def is_overdue(status: str, time_limit: datetime, now: datetime) -> bool:
    return status in OPEN and time_limit < now


def check_role(row: Any, *expected: str) -> None:
    """Passage is recorded where the goods cross (en route, or the destination's border office);
    arrival and discharge at the destination only."""
    if row["role"] not in expected:
        key = "transit.conflict.not_destination" if expected == ("destination",) else "transit.conflict.not_en_route"
        raise Conflict(key, mrn=row["mrn"])


def officer_time(at: datetime | None, now: datetime, registered_at: datetime, pointer: str, skew: timedelta) -> datetime:
    """The time an officer gives (default: now): not more than ``skew`` ahead (the node's one
    clock-skew allowance, ``ReferenceContext.clock_skew``), not before the movement's registration."""
    at = at or now
    if at > now + skew:
        raise ValidationFailed([Issue(pointer, "transit.in_future", {"at": at.isoformat()})])
    if at < registered_at:
        raise ValidationFailed([Issue(pointer, "transit.before_registration", {"at": at.isoformat(), "registered": registered_at.isoformat()})])
    return at


# --- requests ------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


OfficeCode = Annotated[str, StringConstraints(min_length=1, max_length=35, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._-]*$")]


class TransitRegistration(_Request):
    """What the office of departure records; the node adds the MRN and the registration time."""

    lrn: Identifier = Field(description="The principal's local reference; sending the same registration again returns the first one.")
    departure_office: OfficeCode = Field(description="An office of this administration. WCO: DepartureOffice/ID")
    itinerary: list[OfficeCode] = Field(default_factory=list, max_length=20, description="Offices of passage, in route order. WCO: TransitOffice/ID")
    destination_office: OfficeCode = Field(description="WCO: DestinationOffice/ID")
    principal: IdentifiedTrader = Field(description="Holder of the procedure. WCO: Principal")
    guarantee: Guarantee = Field(description="WCO: ObligationGuarantee")
    transport_means: TransitMeans = Field(description="WCO: BorderTransportMeans")
    seals: list[SealId] = Field(default_factory=list, max_length=99, description="WCO: Seal/ID")
    items: list[TransitItem] = Field(min_length=1, max_length=999, description="WCO: GovernmentAgencyGoodsItem")
    time_limit: UtcDateTime = Field(description="Latest arrival at the office of destination (UTC offset required).")


class PassageRecord(_Request):
    office_code: OfficeCode = Field(description="The office of passage of this administration where the goods are.")
    passed_at: UtcDateTime | None = Field(None, description="When the goods passed (default: now).")
    seals_intact: bool = Field(True, description="The seals were found intact.")
    remarks: Remarks | None = None


class ArrivalRecord(_Request):
    office_code: OfficeCode | None = Field(None, description="The office where the goods were presented (default: the declared office of destination).")
    arrived_at: UtcDateTime | None = Field(None, description="When the goods were presented (default: now).")
    seals_intact: bool = Field(True, description="The seals were found intact.")
    remarks: Remarks | None = None
    discharge: bool = Field(False, description="Discharge at once after a satisfactory arrival control (seals intact).")


class DischargeRecord(_Request):
    remarks: Remarks | None = Field(None, description="Reservations at discharge.")


# --- guarantees ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuaranteeBalance:
    principal_id: str
    principal_name: str
    guarantee_reference: str
    currency: str
    held: Decimal
    open_movements: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal_id": self.principal_id,
            "principal_name": self.principal_name,
            "guarantee_reference": self.guarantee_reference,
            "currency": self.currency,
            "held": format(self.held, "f"),
            "open_movements": self.open_movements,
        }
