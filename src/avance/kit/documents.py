"""Building blocks shared by the inbound documents (declarations, cargo reports).

Field names follow the WCO Data Model 3.6; ``docs/data-model.md`` gives each field's WCO class
and element. Structural constraints live here; reference and business rules live in each
capability's ``validation`` module.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Code2 = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2 country code (upper case)."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217 alphabetic currency code."""

LoCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[A-Z2-9]{3}$")]
"""UN/LOCODE: country code and three-character location code, e.g. SNDKR."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=35, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._-]*$")]
"""A reference such as an LRN, a TIN or a transport document number (WCO an..35)."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=512, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=70, strip_whitespace=True)]

Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False)]
"""A non-negative money amount (its currency is given next to it)."""

Mass = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=3, allow_inf_nan=False)]
NetMass = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=3, allow_inf_nan=False)]
"""Net mass of goods: above zero, since the value per kilogram is a risk input."""
"""A non-negative mass in kilograms."""

Quantity = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=3, allow_inf_nan=False)]

TransportMode = Literal[1, 2, 3, 4, 5, 7, 8, 9]
"""WCO DM ModeCode: 1 sea, 2 rail, 3 road, 4 air, 5 post, 7 fixed installations, 8 inland waterway, 9 own propulsion."""

ContainerId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{4}[0-9]{7}$")]
"""ISO 6346 container identification: owner code, category, serial and check digit. Only the
shape is checked here; the check digit is a rule of ``avance.reference.containers``, checked
where a declaration or a cargo report is lodged, so that all its issues come in one answer."""

SealId = Annotated[str, StringConstraints(min_length=1, max_length=35)]


class Strict(BaseModel):
    """Inbound documents refuse unknown fields, so that a misspelt field is reported, not lost."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Party(Strict):
    """A trader: WCO DM Importer, Exporter, Consignor, Consignee, Declarant, Carrier."""

    id: Identifier | None = Field(None, description="Identification (TIN). WCO: <role>/ID, e.g. Importer/ID")
    name: Name = Field(description="WCO: <role>/Name")
    country: Code2 | None = Field(None, description="WCO: Address/CountryCode")
    address: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        None, description="WCO: Address/Line"
    )


class IdentifiedParty(Party):
    """A party whose identification is mandatory (declarant, importer, carrier)."""

    id: Identifier = Field(description="Identification (TIN). WCO: <role>/ID")


class TransportMeans(Strict):
    """WCO DM BorderTransportMeans: the active means of transport crossing the border."""

    identification: Identifier | None = Field(None, description="IMO number, flight number or plate. WCO: BorderTransportMeans/ID")
    name: Name | None = Field(None, description="Vessel name. WCO: BorderTransportMeans/Name")
    nationality: Code2 | None = Field(None, description="WCO: BorderTransportMeans/RegistrationNationalityCode")


class Container(Strict):
    """WCO DM TransportEquipment with its seals."""

    id: ContainerId = Field(description="WCO: TransportEquipment/ID")
    seals: list[SealId] = Field(default_factory=list, max_length=20, description="WCO: Seal/ID")

