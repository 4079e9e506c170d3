"""A seeded generator of realistic West and Central African import trade, with its ground truth.

The demo needs declarations that look like a customs administration's own: traders with stable
habits, goods from the origins they really come from, at plausible unit values, lodged with the
seasons of the trade, and a little fraud hidden among them. Every payload is a valid
:class:`~avance.declarations.model.GoodsDeclaration` (as JSON: Decimals as strings, datetimes
in ISO form with ``+00:00``); the truth beside it says whether it is fraudulent, how, and how
much duty the lie hides.

Trade patterns (countries, offices, sectors, goods, unit values, seasons, fraud bands) live in
``catalog.yaml``; the demo exchange rates (XOF per unit, monthly) in ``rates.csv``.

Reproducible: one seed gives byte-identical payloads. The generator draws from its own
``random.Random`` streams, never the global one and never the clock.

Fraud kinds (the truth is about one goods item, the *affected* one):

- ``undervaluation``: the item's invoice amount is 30-70% of the true one (freight and
  insurance follow the declared invoice, as on a forged set of documents);
- ``misclassification``: the item is declared under a neighbouring, lower-duty HS code
  (``misdeclared_as`` in the catalog, kept only where the duty function says it is cheaper);
- ``false_origin``: goods from CN, IN, TR... are declared with a community origin and the
  community preference is claimed.

``hidden_duty`` is the duty due on the true facts minus the duty due on the declared facts, in
national currency, computed by a duty function. The default one values goods with the node's own
rules (``avance.revenue.customs_value``: the Incoterm rule, freight and insurance shared by
invoice amount) and taxes them with its calculator (``avance.revenue.calculator``), so that the
declared side is exactly what lodging computes and the truth grades the risk engine against the
figures a node really produces. Container numbers carry the ISO 6346 check digit of
``avance.reference.containers``, the one lodging checks.
"""

from __future__ import annotations

import bisect
import gc
import json
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from avance.kit.money import minor_units
from avance.reference.containers import container_check_digit
from avance.reference.rates import EURO_PEG, PEGGED_TO_EURO, Rate, RateTable, parse_rate_file
from avance.revenue.calculator import DutyItemInput, compute_duties
from avance.revenue.customs_value import ItemValues, includes_freight, includes_insurance, item_value, share
from avance.revenue.profiles import CountryProfile, load_profile
from avance.revenue.schedule import Schedule

__all__ = [
    "FRAUD_KINDS",
    "DemoConfig",
    "DemoGenerator",
    "GeneratedDeclaration",
    "GeneratedPayloadFacts",
    "ItemFacts",
    "RevenueDuties",
    "Trader",
    "TraderList",
    "Truth",
    "declared_facts",
    "demo_rate_table",
    "demo_rates",
    "generate",
    "load_catalog",
    "true_facts",
    "truth_record",
    "write_jsonl",
]

FRAUD_KINDS: tuple[str, ...] = ("undervaluation", "misclassification", "false_origin")

MODE_CODES = {"sea": 1, "road": 3, "air": 4}
_UTC = timezone.utc
_MAX_BOXES = 40  # above this many containers, a shipment travels as break-bulk
_FRAUD_CAP = 0.9  # no importer/declarant pair defrauds more often than this


# ---------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class DemoConfig:
    """What to generate: the node's country, the seed, the period and the fraud rates.

    ``importers`` caps the importer population (``generate(n)`` uses about n/40 of them, at
    least two per sector, at most this many); ``declarants`` is the number of licensed brokers.
    """

    country: str = "SN"
    seed: int = 20260601
    start: date = date(2025, 1, 1)
    days: int = 365
    fraud_rates: dict = field(
        default_factory=lambda: {"undervaluation": 0.06, "misclassification": 0.03, "false_origin": 0.02}
    )
    importers: int = 400
    declarants: int = 30


@dataclass(frozen=True)
class Truth:
    """What an inspection would find.

    For a fraud, the ``true_*`` fields and ``item_sequence`` describe the affected goods item;
    for an honest declaration they repeat goods item 1 as declared (which is true).
    ``true_hs_code`` is the national 10-digit line, ``true_invoice_amount`` is in the invoice
    currency, ``hidden_duty`` in national currency (0 when honest, never negative).
    """

    fraud: bool
    kind: str | None
    true_hs_code: str
    true_origin: str
    true_invoice_amount: Decimal
    hidden_duty: Decimal
    item_sequence: int = 1


@dataclass(frozen=True)
class GeneratedDeclaration:
    payload: dict
    registration_date: date
    truth: Truth


@dataclass(frozen=True)
class Trader:
    """An importer or a declarant (licensed broker) of the demo population, with its habits.

    ``fraud_propensity`` multiplies the population's fraud rates (1.0 = average); ``size`` is
    the relative volume of declarations within its sector (importers) or among brokers.
    """

    id: str
    name: str
    role: str  # "importer" | "declarant"
    country: str
    address: str
    size: float
    fraud_propensity: float
    repeat_offender: bool = False
    sector: str | None = None
    preferred_hs_codes: tuple[str, ...] = ()
    preferred_origins: tuple[str, ...] = ()
    usual_declarant: str | None = None


class TraderList(list):
    """The traders of a population (a list of Trader), with its importers and declarants apart."""

    @property
    def importers(self) -> list[Trader]:
        return [t for t in self if t.role == "importer"]

    @property
    def declarants(self) -> list[Trader]:
        return [t for t in self if t.role == "declarant"]


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """The duty-relevant facts of one goods item. Amounts are in the invoice currency;
    ``freight`` and ``insurance`` are the item's shares of the declaration's amounts."""

    hs_code: str
    origin_country: str
    preference_claimed: bool
    invoice_amount: Decimal
    freight: Decimal
    insurance: Decimal


@dataclass(frozen=True, slots=True)
class GeneratedPayloadFacts:
    """The duty-relevant facts of a declaration (declared, or true), as a duty function sees them."""

    country: str
    on: date
    incoterm: str
    currency: str
    items: tuple[ItemFacts, ...]


def declared_facts(country: str, payload: dict, on: date) -> GeneratedPayloadFacts:
    """The facts of a generated payload as lodging reads them: each item's HS code, origin,
    preference claim and invoice amount, with its shares of the freight and insurance by invoice
    amount (``avance.revenue.customs_value.share``, the lodging's own rule)."""
    total = Decimal(payload["invoice_amount"])
    freight = Decimal(payload["freight_amount"])
    insurance = Decimal(payload["insurance_amount"])
    entries = payload["goods_items"]
    items = []
    for entry in entries:
        invoice = Decimal(entry["invoice_amount"])
        items.append(
            ItemFacts(
                entry["hs_code"],
                entry["origin_country"],
                entry["duty_regime"] == "community",
                invoice,
                share(freight, invoice, total, len(entries)),
                share(insurance, invoice, total, len(entries)),
            )
        )
    return GeneratedPayloadFacts(country, on, payload["incoterm"], payload["invoice_currency"], tuple(items))


def true_facts(declared: GeneratedPayloadFacts, truth: Truth) -> GeneratedPayloadFacts:
    """The facts an inspection would find, from the declared ones and the truth.

    Only the affected item changes: an undervalued one gets its true invoice amount, its freight
    and insurance shares growing in proportion (the true documents would show them so); a
    misclassified or falsely originating one gets its true code or origin, and loses the
    community preference it had no right to.
    """
    if not truth.fraud:
        return declared
    index = truth.item_sequence - 1
    item = declared.items[index]
    if truth.kind == "undervaluation":
        ratio = truth.true_invoice_amount / item.invoice_amount
        actual = ItemFacts(
            item.hs_code,
            item.origin_country,
            item.preference_claimed,
            truth.true_invoice_amount,
            item.freight * ratio,
            item.insurance * ratio,
        )
    else:
        actual = ItemFacts(
            truth.true_hs_code,
            truth.true_origin,
            item.preference_claimed and truth.kind != "false_origin",
            item.invoice_amount,
            item.freight,
            item.insurance,
        )
    items = list(declared.items)
    items[index] = actual
    return replace(declared, items=tuple(items))


# ---------------------------------------------------------------------------------------------
# Data files


def _data_path(name: str) -> Path:
    return Path(str(resources.files(__package__).joinpath(name)))


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Any]:
    """The trade patterns of ``catalog.yaml`` (read once)."""
    with _data_path("catalog.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def demo_rates(national: str) -> list[Rate]:
    """The demo exchange rates for a node whose currency is ``national``, ready to store.

    ``rates.csv`` gives XOF per unit; XOF and XAF nodes use it as is (both are pegged to the
    euro), other nodes (NGN, GHS) get cross rates through their currency's XOF rate, including
    EUR, XOF and XAF.
    """
    xof = parse_rate_file(_data_path("rates.csv"), "XOF")
    if national in PEGGED_TO_EURO:
        return xof
    by_date: dict[date, dict[str, Decimal]] = {}
    for rate in xof:
        by_date.setdefault(rate.valid_from, {})[rate.currency] = rate.rate
    rates: list[Rate] = []
    quantum = Decimal("0.000001")
    for on in sorted(by_date):
        row = by_date[on]
        base = row.get(national)
        if base is None:
            raise ValueError(f"rates.csv has no {national} rate from {on}: cannot build the {national} table")
        for currency, value in row.items():
            if currency != national:
                rates.append(Rate(currency, on, (value / base).quantize(quantum)))
        rates.append(Rate("EUR", on, (EURO_PEG / base).quantize(quantum)))
        for pegged in sorted(PEGGED_TO_EURO):
            rates.append(Rate(pegged, on, (Decimal(1) / base).quantize(quantum)))
    return rates


@lru_cache(maxsize=None)
def demo_rate_table(national: str) -> RateTable:
    """The demo exchange-rate table of a node whose currency is ``national`` (see demo_rates)."""
    return RateTable(national, demo_rates(national))


# ---------------------------------------------------------------------------------------------
# The default duty function


class RevenueDuties:
    """Default duty function: the node's own rules on every goods item, summed.

    Each item is valued as lodging values it (``avance.revenue.customs_value.item_value``: the
    Incoterm rule, at the demo rate of the declaration date, rounded to the national currency)
    and taxed by Avance's revenue calculator. Item results are cached (the true and declared
    facts of a fraud share all items but one).
    """

    def __init__(self) -> None:
        self._contexts: dict[str, tuple[CountryProfile, Schedule, RateTable]] = {}
        self._cache: dict[tuple, Decimal] = {}

    def _context(self, country: str) -> tuple[CountryProfile, Schedule, RateTable]:
        context = self._contexts.get(country)
        if context is None:
            profile = load_profile(country)
            context = (profile, Schedule.default(country), demo_rate_table(profile.currency))
            self._contexts[country] = context
        return context

    def values(self, facts: GeneratedPayloadFacts) -> list[ItemValues]:
        """Customs value and FOB value of each item of ``facts``, in the national currency."""
        profile, _, rates = self._context(facts.country)
        rate = rates.rate(facts.currency, facts.on)
        return [
            item_value(facts.incoterm, item.invoice_amount, item.freight, item.insurance, rate, profile.currency)
            for item in facts.items
        ]

    def __call__(self, facts: GeneratedPayloadFacts) -> Decimal:
        profile, schedule, rates = self._context(facts.country)
        national = profile.currency
        rate = rates.rate(facts.currency, facts.on)
        total = Decimal(0)
        cache = self._cache
        for item in facts.items:
            key = (facts.country, facts.on, facts.incoterm, facts.currency, item)
            amount = cache.get(key)
            if amount is None:
                customs_value, fob_value = item_value(
                    facts.incoterm, item.invoice_amount, item.freight, item.insurance, rate, national
                )
                breakdown = compute_duties(
                    profile,
                    schedule,
                    DutyItemInput(
                        hs_code=item.hs_code,
                        origin_country=item.origin_country,
                        customs_value=customs_value,
                        fob_value=fob_value,
                        preference_claimed=item.preference_claimed,
                    ),
                    facts.on,
                )
                amount = breakdown.total
                if len(cache) > 200_000:
                    cache.clear()
                cache[key] = amount
            total += amount
        return total


# ---------------------------------------------------------------------------------------------
# Internal state


class _Weighted:
    """Items with weights, drawn by bisection on the cumulative weights."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items: list, weights: Iterable[float]) -> None:
        self.items = items
        self.cum: list[float] = []
        running = 0.0
        for weight in weights:
            running += weight
            self.cum.append(running)
        self.total = running
        if not items or running <= 0:
            raise ValueError("nothing to draw from")

    def pick(self, rng: random.Random) -> Any:
        i = bisect.bisect_right(self.cum, rng.random() * self.total)
        return self.items[i if i < len(self.items) else -1]


def _weighted(mapping: dict) -> _Weighted:
    return _Weighted(list(mapping), [float(w) for w in mapping.values()])


def _sample_without_replacement(rng: random.Random, mapping: dict, k: int) -> list:
    pool = dict(mapping)
    chosen = []
    for _ in range(min(k, len(pool))):
        item = _weighted(pool).pick(rng)
        chosen.append(item)
        del pool[item]
    return chosen


class _Good:
    __slots__ = (
        "hs6", "code", "descriptions", "origins", "price", "uv_lo", "uv_span", "net_lo", "net_span",
        "unit", "unit_kg", "package", "package_kg", "load", "box_kg", "air", "misdeclared_as", "tanker",
    )

    def __init__(self, hs6: str, spec: dict, language: str, country: str) -> None:
        self.hs6 = hs6
        self.code = hs6 + "0000"
        self.descriptions: list[str] = list(spec.get(language) or spec["fr"])
        self.origins = {o: w for o, w in spec["origins"].items() if o != country}
        self.price: dict[str, float] = {o: float(f) for o, f in (spec.get("price") or {}).items()}
        lo, hi = spec["usd_per_kg"]
        self.uv_lo, self.uv_span = math.log(lo), math.log(hi / lo)
        lo, hi = spec["net_kg"]
        self.net_lo, self.net_span = math.log(lo), math.log(hi / lo)
        unit = spec.get("unit")
        self.unit: str | None = unit["code"] if unit else None
        self.unit_kg: tuple[float, float] | None = (float(unit["kg"][0]), float(unit["kg"][1])) if unit else None
        self.package: str = spec["package"]["type"]
        self.package_kg: float = float(spec["package"]["kg"])
        load = spec["load"]
        if isinstance(load, dict):
            self.load, self.box_kg = "container", float(load["container"]) * 1000
        else:
            self.load, self.box_kg = load, 0.0
        self.air: float = float(spec.get("air", 0))
        self.misdeclared_as: list[str] = list(spec.get("misdeclared_as") or [])
        self.tanker = hs6.startswith("2710")


@dataclass
class _Importer:
    trader: Trader
    party: dict
    sector: int
    size: float
    propensity: float
    pairs: _Weighted
    eligible: dict[str, _Weighted | None]
    by_origin: dict[str, _Weighted]
    declarant: int
    price_level: float
    mass_pos: float
    currency: dict[str, str]
    incoterm: dict[str, str]
    suppliers: dict[str, list[dict]]


@dataclass
class _Declarant:
    trader: Trader
    party: dict
    size: float
    propensity: float


@dataclass
class _Vessel:
    name: str
    imo: str
    flag: str
    scac: str
    owners: list[str]


# ---------------------------------------------------------------------------------------------
# Identifiers


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def container_id(owner: str, serial: int) -> str:
    """An ISO 6346 container number: owner code (3 letters + category), 6-digit serial, check digit."""
    body = f"{owner}{serial:06d}"
    return f"{body}{container_check_digit(body)}"


def _below(rng: random.Random, k: int) -> int:
    """A uniform integer in [0, k) (faster than ``randrange`` on the hot path)."""
    return int(rng.random() * k)


def _imo_number(rng: random.Random) -> str:
    digits = [9] + [rng.randrange(10) for _ in range(5)]
    check = sum(d * w for d, w in zip(digits, range(7, 1, -1))) % 10
    return "IMO" + "".join(map(str, digits)) + str(check)


def _awb(rng: random.Random, prefix: str) -> str:
    serial = rng.randrange(10**7)
    return f"{prefix}-{serial:07d}{serial % 7}"


# ---------------------------------------------------------------------------------------------
# The generator


class DemoGenerator:
    """Builds the trader population of ``config`` once; ``generate(n)`` yields declarations.

    ``duty_fn`` computes the duties of a declaration's facts (national currency); it defaults
    to :class:`RevenueDuties`. It also decides which misclassifications and false origins are
    worth a fraudster's while: a neighbour code or community origin is used only where it is
    cheaper.
    """

    def __init__(
        self, config: DemoConfig, duty_fn: Callable[[GeneratedPayloadFacts], Decimal] | None = None
    ) -> None:
        catalog = load_catalog()
        country = config.country.upper()
        if country not in catalog["countries"]:
            raise ValueError(f"no demo trade patterns for country {config.country!r}")
        unknown = set(config.fraud_rates) - set(FRAUD_KINDS)
        if unknown:
            raise ValueError(f"unknown fraud kinds {sorted(unknown)}; use {', '.join(FRAUD_KINDS)}")
        if sum(config.fraud_rates.values()) > 0.5 or any(r < 0 for r in config.fraud_rates.values()):
            raise ValueError("fraud rates must be zero or more and sum to at most 0.5")
        if config.days < 1:
            raise ValueError("days must be at least 1")
        self.config = config
        self.country = country
        self.duty_fn = duty_fn if duty_fn is not None else RevenueDuties()
        self._catalog = catalog
        spec = catalog["countries"][country]
        self._spec = spec
        self.currency: str = spec["currency"]
        self._language: str = spec["language"]
        self._landlocked: bool = bool(spec["landlocked"])
        self._road: dict[str, float] = {o: float(w) for o, w in spec["road_origins"].items()}
        self._land = frozenset(self._road)
        self._regional = frozenset(spec["regional_origins"])
        self._offices = {o["kind"]: o["code"] for o in catalog["offices"] if o["country"] == country}
        self._rates = demo_rate_table(self.currency)
        self._goods = {hs6: _Good(hs6, g, self._language, country) for hs6, g in catalog["goods"].items()}
        self._sector_names: list[str] = list(catalog["sectors"])
        self._sector_goods: list[dict[str, float]] = [
            {hs6: w for hs6, w in s["goods"].items() if self._goods[hs6].origins} for s in catalog["sectors"].values()
        ]
        self._sector_items: list[_Weighted] = [
            _Weighted(list(range(1, len(s["items"]) + 1)), s["items"]) for s in catalog["sectors"].values()
        ]
        self._claims = self._probe_false_origin_claims()
        self._probe_misclassification()
        self._false_origin_sources = frozenset(catalog["fraud"]["false_origin_true_origins"])

        rng = random.Random(f"avance-demo/{config.seed}/population/{country}")
        self._exporters = self._make_exporters(rng)
        self._vessels = self._make_vessels(rng)
        self._declarants = self._make_declarants(rng)
        self._importers = self._make_importers(rng)
        self._calendar = self._make_calendar()
        self._fx_cache: dict[tuple[str, date], float] = {}
        self._incoterms = {mode: _weighted(w) for mode, w in catalog["incoterms"].items()}
        self._hauliers = sorted(self._land & self._regional)  # trucks bringing sea cargo inland

    # -- public -------------------------------------------------------------------------------

    def traders(self) -> TraderList:
        """The whole population: importers (in the order generate() activates them), then
        declarants; ``.importers`` and ``.declarants`` give each role apart."""
        return TraderList([i.trader for i in self._importers] + [d.trader for d in self._declarants])

    def offices(self) -> list[str]:
        """Office codes of the node's country (the reference list of ``catalog.yaml``)."""
        return [o["code"] for o in self._catalog["offices"] if o["country"] == self.country]

    def active_importers(self, n: int) -> int:
        """How many importers (the first ones of traders()) ``generate(n)`` draws from."""
        floor = 2 * len(self._sector_names)
        return max(min(floor, len(self._importers)), min(len(self._importers), n // 40))

    def generate(self, n: int) -> Iterator[GeneratedDeclaration]:
        """``n`` declarations in registration-date order (the same ones on every call)."""
        if n < 0:
            raise ValueError("n must be zero or more")
        rng = random.Random(f"avance-demo/{self.config.seed}/declarations/{self.country}/{n}")
        active = self._importers[: self.active_importers(n)]
        sectors = len(self._sector_names)
        by_sector: list[list[_Importer]] = [[] for _ in range(sectors)]
        for importer in active:
            by_sector[importer.sector].append(importer)
        pickers = [_Weighted(group, [i.size for i in group]) if group else None for group in by_sector]
        cum = list(self._calendar_cum(pickers))
        if n == 0:
            return
        fraud = self._fraud_tables(active, by_sector, cum)
        broker_pick = _Weighted(list(range(len(self._declarants))), [d.size for d in self._declarants])
        usual_share = float(self._catalog["fraud"]["usual_declarant_share"])
        counters: dict[tuple[int, int], int] = {}
        documents: set[str] = set()  # one declaration per transport document: a consignment is declared once
        draws = sorted(rng.choices(range(len(cum)), cum_weights=cum, k=n))
        days = self._calendar
        for draw in draws:
            day, sector = divmod(draw, sectors)
            on = days[day][0]
            importer = pickers[sector].pick(rng)  # type: ignore[union-attr]
            j = importer.declarant if rng.random() < usual_share else broker_pick.pick(rng)
            u = rng.random()
            kind = None
            for name, threshold in zip(FRAUD_KINDS, fraud[id(importer)][j]):
                if u < threshold:
                    kind = name
                    break
            yield self._declaration(rng, on, importer, j, kind, counters, documents)

    # -- population ---------------------------------------------------------------------------

    def _probe_facts(self, hs6: str, origin: str, preference: bool, on: date) -> Decimal:
        item = ItemFacts(hs6 + "0000", origin, preference, Decimal(1_000_000), Decimal(0), Decimal(0))
        return self.duty_fn(GeneratedPayloadFacts(self.country, on, "CIF", self.currency, (item,)))

    def _probe_dates(self) -> list[date]:
        return [self.config.start, self.config.start + timedelta(days=self.config.days - 1)]

    def _probe_false_origin_claims(self) -> _Weighted | None:
        """Community origins that do lower the duty of goods from the far origins."""
        claims = self._spec["false_origin_claims"]
        kept = {}
        for origin, weight in claims.items():
            if all(self._probe_facts("870323", origin, True, on) < self._probe_facts("870323", "CN", False, on)
                   for on in self._probe_dates()):
                kept[origin] = weight
        return _weighted(kept) if kept else None

    def _probe_misclassification(self) -> None:
        """Keep the neighbour codes that are cheaper than the true one on both probe dates."""
        regional = sorted(self._regional)[0] if self._regional else "CN"
        for good in self._goods.values():
            kept = []
            for other in good.misdeclared_as:
                cheaper = True
                for on in self._probe_dates():
                    true_general = self._probe_facts(good.hs6, "CN", False, on)
                    false_general = self._probe_facts(other, "CN", False, on)
                    true_regional = self._probe_facts(good.hs6, regional, True, on)
                    false_regional = self._probe_facts(other, regional, True, on)
                    if not (false_general < true_general and false_regional <= true_regional):
                        cheaper = False
                        break
                if cheaper:
                    kept.append(other)
            good.misdeclared_as = kept

    def _name(self, rng: random.Random, patterns: list[str], taken: set[str]) -> str:
        spec = self._spec
        suffixes = self._catalog["acronym_suffixes"]
        for attempt in range(50):
            pattern = rng.choice(patterns)
            surname = rng.choice(spec["surnames"])
            other = rng.choice([s for s in spec["surnames"] if s != surname])
            acronym = rng.choice(spec["acronym_roots"]) + rng.choice(suffixes)
            name = pattern.format(S=surname, T=other, A=acronym)
            if attempt > 20:
                name = f"{name} {attempt - 19}"
            if name not in taken and len(name) <= 70:
                taken.add(name)
                return name
        raise AssertionError("could not find a free company name")  # pragma: no cover

    def _tin(self, rng: random.Random, taken: set[str]) -> str:
        while True:
            tin = f"{self.country}{rng.randrange(10**7):07d}{rng.choice(_LETTERS)}{rng.randrange(10)}"
            if tin not in taken:
                taken.add(tin)
                return tin

    def _address(self, rng: random.Random) -> tuple[str, str]:
        """A street of the main city, or a post-office box elsewhere."""
        cities = self._spec["cities"]
        city = rng.choice(cities)
        if city == cities[0]:
            return f"{rng.choice(self._spec['streets'])}, {city}", city
        box = "BP" if self._language == "fr" else "P.O. Box"
        return f"{box} {rng.randint(10, 9999)}, {city}", city

    def _make_exporters(self, rng: random.Random) -> dict[str, list[dict]]:
        specs = self._catalog["exporters"]
        origins: list[str] = []
        for good in self._goods.values():
            for origin in good.origins:
                if origin not in origins:
                    origins.append(origin)
        exporters: dict[str, list[dict]] = {}
        for origin in origins:
            spec = specs.get(origin, specs["default"])
            names: list[str] = []
            for _ in range(40):
                if len(names) == 8:
                    break
                word = rng.choice(spec["words"])
                if "cities" in spec:
                    word = f"{rng.choice(spec['cities'])} {word}"
                name = f"{word} {rng.choice(spec['activities'])} {spec['form']}"[:70].strip()
                if name not in names:
                    names.append(name)
            exporters[origin] = [{"name": name, "country": origin} for name in names]
        return exporters

    def _make_vessels(self, rng: random.Random) -> dict[str, list[_Vessel]]:
        catalog = self._catalog
        flags = _weighted(catalog["flags"])
        vessels: dict[str, list[_Vessel]] = {"container": []}
        for carrier in catalog["carriers"]:
            for name in carrier["vessels"]:
                vessels["container"].append(_Vessel(name, _imo_number(rng), flags.pick(rng), carrier["scac"], carrier["owners"]))
        for kind, spec in catalog["vessels"].items():
            vessels[kind] = [
                _Vessel(name, _imo_number(rng), flags.pick(rng), rng.choice(spec["carriers"]), [])
                for name in spec["names"]
            ]
        return vessels

    def _band(self, rng: random.Random, bands: list[dict]) -> tuple[float, bool]:
        band = _Weighted(bands, [b["share"] for b in bands]).pick(rng)
        lo, hi = band["propensity"]
        return rng.uniform(lo, hi), bool(band.get("repeat_offender", False))

    def _make_declarants(self, rng: random.Random) -> list[_Declarant]:
        patterns = self._catalog["company_names"][self._language]["declarant"]
        bands = self._catalog["fraud"]["declarant_bands"]
        names: set[str] = set()
        tins: set[str] = set()
        declarants = []
        for _ in range(max(1, self.config.declarants)):
            name = self._name(rng, patterns, names)
            tin = self._tin(rng, tins)
            address, _ = self._address(rng)
            size = min(rng.paretovariate(1.5), 20.0)
            propensity, _ = self._band(rng, bands)
            trader = Trader(tin, name, "declarant", self.country, address, round(size, 4), round(propensity, 4))
            party = {"id": tin, "name": name, "country": self.country}
            declarants.append(_Declarant(trader, party, size, propensity))
        self._tins = tins
        return declarants

    def _make_importers(self, rng: random.Random) -> list[_Importer]:
        catalog = self._catalog
        sector_specs = list(catalog["sectors"].values())
        sector_draw = _Weighted(list(range(len(sector_specs))), [s["share"] for s in sector_specs])
        first = list(range(len(sector_specs)))
        rng.shuffle(first)
        order = first + first[::-1]  # two importers per sector first, so that every sector is active
        bands = catalog["fraud"]["importer_bands"]
        complaisant = [j for j, d in enumerate(self._declarants) if d.propensity > 1.5]
        broker_pick = _Weighted(list(range(len(self._declarants))), [d.size for d in self._declarants])
        names: set[str] = set()
        currencies = catalog["invoice_currencies"]
        incoterms = {mode: _weighted(w) for mode, w in catalog["incoterms"].items()}
        patterns = catalog["company_names"][self._language]
        importers = []
        for index in range(max(self.config.importers, len(order))):
            sector = order[index] if index < len(order) else sector_draw.pick(rng)
            sector_name = self._sector_names[sector]
            goods = _sample_without_replacement(rng, self._sector_goods[sector], rng.randint(2, 5))
            pairs: dict[tuple[str, str], float] = {}
            for hs6 in goods:
                good = self._goods[hs6]
                for origin in _sample_without_replacement(rng, good.origins, rng.randint(1, 3)):
                    pairs[(hs6, origin)] = self._sector_goods[sector][hs6] * good.origins[origin] * rng.uniform(0.5, 1.5)
            propensity, repeat = self._band(rng, bands)
            if repeat and complaisant and rng.random() < 0.6:
                declarant = rng.choice(complaisant)
            else:
                declarant = broker_pick.pick(rng)
            origins = list(dict.fromkeys(o for _, o in pairs))
            currency = {o: _weighted(currencies.get(o, currencies["default"])).pick(rng) for o in origins}
            suppliers = {o: rng.sample(self._exporters[o], min(2, len(self._exporters[o]))) for o in origins}
            eligible: dict[str, _Weighted | None] = {}
            for kind in FRAUD_KINDS:
                if kind == "misclassification":
                    # community goods with the preference pay no duty: nothing to hide there
                    chosen = {
                        p: w for p, w in pairs.items() if self._goods[p[0]].misdeclared_as and p[1] not in self._regional
                    }
                elif kind == "false_origin":
                    chosen = {p: w for p, w in pairs.items() if p[1] in self._false_origin_sources} if self._claims else {}
                else:
                    chosen = pairs
                eligible[kind] = _weighted(chosen) if chosen else None
            by_origin = {}
            for origin in origins:
                by_origin[origin] = _weighted({p: w for p, w in pairs.items() if p[1] == origin})
            name = self._name(rng, patterns[sector_name], names)
            tin = self._tin(rng, self._tins)
            address, _ = self._address(rng)
            size = min(rng.paretovariate(1.16), 60.0)
            trader = Trader(
                id=tin,
                name=name,
                role="importer",
                country=self.country,
                address=address,
                size=round(size, 4),
                fraud_propensity=round(propensity, 4),
                repeat_offender=repeat,
                sector=sector_name,
                preferred_hs_codes=tuple(self._goods[h].code for h in goods),
                preferred_origins=tuple(origins),
                usual_declarant=self._declarants[declarant].trader.id,
            )
            importers.append(
                _Importer(
                    trader=trader,
                    party={"id": tin, "name": name, "country": self.country, "address": address},
                    sector=sector,
                    size=size,
                    propensity=propensity,
                    pairs=_weighted(pairs),
                    eligible=eligible,
                    by_origin=by_origin,
                    declarant=declarant,
                    price_level=rng.lognormvariate(0, 0.08),
                    mass_pos=min(0.9, 0.2 + 0.12 * math.log(size) + rng.uniform(0, 0.4)),
                    currency=currency,
                    incoterm={mode: pick.pick(rng) for mode, pick in incoterms.items()},
                    suppliers=suppliers,
                )
            )
        return importers

    # -- calendar and fraud tables ------------------------------------------------------------

    def _make_calendar(self) -> list[tuple[date, list[float]]]:
        """Each day of the period with the weight of each sector's declarations on that day."""
        season = self._catalog["seasonality"]
        months = season["months"]
        weekdays = season["weekdays"]
        window = timedelta(days=int(season["festival_window_days"]))
        festivals = sorted(date.fromisoformat(str(d)) for ds in season["festivals"].values() for d in ds)
        specs = list(self._catalog["sectors"].values())
        calendar = []
        for offset in range(self.config.days):
            on = self.config.start + timedelta(days=offset)
            general = months[on.month - 1]
            weekday = weekdays[on.weekday()]
            near_festival = any(f - window <= on < f for f in festivals)
            weights = []
            for spec in specs:
                w = float(spec["share"]) * weekday
                if not spec.get("flat"):
                    w *= general
                if "months" in spec:
                    w *= spec["months"][on.month - 1]
                if near_festival and "festival_boost" in spec:
                    w *= float(spec["festival_boost"])
                weights.append(w)
            calendar.append((on, weights))
        return calendar

    def _calendar_cum(self, pickers: list) -> Iterator[float]:
        running = 0.0
        for _, weights in self._calendar:
            for sector, weight in enumerate(weights):
                if pickers[sector] is not None:
                    running += weight
                yield running

    def _fraud_tables(self, active: list[_Importer], by_sector: list[list[_Importer]], cum: list[float]) -> dict:
        """Per importer and declarant, the cumulative probabilities of the fraud kinds.

        Probability ∝ rate × importer propensity × declarant propensity (zero where the
        importer's goods cannot carry that fraud), scaled so that the expected share of each
        kind over the declarations equals its configured rate.
        """
        sectors = len(self._sector_names)
        sector_weight = [0.0] * sectors
        previous = 0.0
        for index, running in enumerate(cum):
            sector_weight[index % sectors] += running - previous
            previous = running
        total = cum[-1] if cum else 1.0
        usual = float(self._catalog["fraud"]["usual_declarant_share"])
        sizes = [d.size for d in self._declarants]
        size_sum = sum(sizes)
        broker_share = [s / size_sum for s in sizes]
        dprop = [d.propensity for d in self._declarants]
        weights = []
        for importer in active:
            group = by_sector[importer.sector]
            share = sector_weight[importer.sector] / total * importer.size / sum(i.size for i in group)
            weights.append(share)
        rates = [float(self.config.fraud_rates.get(kind, 0.0)) for kind in FRAUD_KINDS]
        eligible = [[importer.eligible[kind] is not None for kind in FRAUD_KINDS] for importer in active]
        scale = [1.0, 1.0, 1.0]
        for _ in range(12):
            achieved = [0.0, 0.0, 0.0]
            for w, importer, ok in zip(weights, active, eligible):
                for j, d in enumerate(dprop):
                    pj = (1 - usual) * broker_share[j] + (usual if j == importer.declarant else 0.0)
                    if pj == 0:
                        continue
                    raw = [scale[k] * rates[k] * importer.propensity * d if ok[k] else 0.0 for k in range(3)]
                    t = raw[0] + raw[1] + raw[2]
                    factor = _FRAUD_CAP / t if t > _FRAUD_CAP else 1.0
                    for k in range(3):
                        achieved[k] += w * pj * raw[k] * factor
            done = True
            for k in range(3):
                if rates[k] > 0 and achieved[k] > 0:
                    ratio = rates[k] / achieved[k]
                    if abs(ratio - 1) > 1e-4:
                        done = False
                    scale[k] *= ratio
            if done:
                break
        tables: dict[int, list[tuple[float, float, float]]] = {}
        for importer, ok in zip(active, eligible):
            rows = []
            for d in dprop:
                raw = [scale[k] * rates[k] * importer.propensity * d if ok[k] else 0.0 for k in range(3)]
                t = raw[0] + raw[1] + raw[2]
                factor = _FRAUD_CAP / t if t > _FRAUD_CAP else 1.0
                rows.append((raw[0] * factor, (raw[0] + raw[1]) * factor, t * factor))
            tables[id(importer)] = rows
        return tables

    # -- one declaration ----------------------------------------------------------------------

    def _fx(self, currency: str, on: date) -> float:
        """Units of ``currency`` per USD on ``on``."""
        key = (currency, on)
        value = self._fx_cache.get(key)
        if value is None:
            value = float(self._rates.rate("USD", on) / self._rates.rate(currency, on))
            self._fx_cache[key] = value
        return value

    def _declaration(
        self,
        rng: random.Random,
        on: date,
        importer: _Importer,
        j: int,
        kind: str | None,
        counters: dict[tuple[int, int], int],
        documents: set[str],
    ) -> GeneratedDeclaration:
        goods = self._goods
        primary = (importer.eligible[kind] if kind else importer.pairs).pick(rng)  # type: ignore[union-attr]
        good, origin = goods[primary[0]], primary[1]

        # Mode of transport and office.
        if origin in self._land and rng.random() < self._road[origin]:
            mode = "road"
        elif good.air and rng.random() < good.air:
            mode = "air"
        else:
            mode = "sea"
        routed_by_sea = mode == "sea"
        office_kind = "road" if (mode == "sea" and self._landlocked) else mode
        mode_code = MODE_CODES[office_kind]

        # Goods items: the primary pair and others from the same importer.
        count = self._sector_items[importer.sector].pick(rng)
        if mode == "air":
            count = min(count, 3)
        elif mode == "road":
            count = min(count, 4)
        pairs = [primary]
        same_origin = importer.by_origin[origin]
        for _ in range(count - 1):
            if mode == "sea" and rng.random() < 0.15:
                candidate = importer.pairs.pick(rng)
                if candidate[1] in self._land:
                    candidate = same_origin.pick(rng)
            else:
                candidate = same_origin.pick(rng)
            if mode == "air" and not goods[candidate[0]].air:
                candidate = primary
            pairs.append(candidate)
        rng.shuffle(pairs)
        affected = pairs.index(primary) if kind else 0

        currency = importer.currency[origin]
        usd = self._fx(currency, on)
        places = minor_units(currency)
        quantum = 10.0**-places
        # Per item: true FOB value in the invoice currency, masses, units.
        items = []
        for hs6, item_origin in pairs:
            g = goods[hs6]
            u = importer.mass_pos + rng.gauss(0, 0.2)
            u = 0.0 if u < 0 else 1.0 if u > 1 else u
            net = math.exp(g.net_lo + g.net_span * u)
            if mode == "air":
                net = min(net, rng.uniform(300, 2500))
            elif mode == "road":
                net = min(net, rng.uniform(8000, 30000))
            units = 0
            if g.unit_kg is not None:
                unit_kg = rng.uniform(*g.unit_kg)
                units = max(1, round(net / unit_kg))
                net = units * unit_kg
            value = net * math.exp(g.uv_lo + g.uv_span * rng.random()) * g.price.get(item_origin, 1.0)
            value *= importer.price_level * usd
            items.append([g, item_origin, net, units, max(value, quantum)])

        true_fob = items[affected][4]
        if kind == "undervaluation":
            items[affected][4] = max(true_fob * rng.uniform(0.3, 0.7), quantum)

        # Trade terms, freight and insurance (on the declared values).
        incoterm = importer.incoterm[mode] if rng.random() < 0.7 else self._incoterms[mode].pick(rng)
        lo, hi = self._catalog["freight_share"][mode]
        freight_share = rng.uniform(lo, hi)
        lo, hi = self._catalog["insurance_share"]
        insurance_share = rng.uniform(lo, hi) * (1 + freight_share)
        included = (freight_share if includes_freight(incoterm) else 0.0) + (
            insurance_share if includes_insurance(incoterm) else 0.0
        )
        fob_total = sum(item[4] for item in items)
        fmt = f"{{:.{places}f}}"
        invoices = [Decimal(fmt.format(max(item[4] * (1 + included), quantum))) for item in items]
        invoice_total = sum(invoices, Decimal(0))
        freight = Decimal(fmt.format(fob_total * freight_share))
        insurance = Decimal(fmt.format(fob_total * insurance_share))

        # Containers.
        container_items = [i for i, item in enumerate(items) if item[0].load == "container"]
        boxes: list[str] = []
        seals: list[list[str]] = []
        item_boxes: dict[int, list[str]] = {}
        line: _Vessel | None = None  # the container line, when the goods travel in boxes
        grosses = []
        for item in items:
            g = item[0]
            tare = rng.uniform(0.0, 0.02) if g.package in ("VL", "VY", "VN") else rng.uniform(0.05, 0.15)
            grosses.append(item[2] * (1 + tare))
        vessel_kind = {"roro": "roro", "bulk": "bulk", "container": "container"}[good.load]
        if good.tanker:
            vessel_kind = "tanker"
        if routed_by_sea and container_items:
            usage = [grosses[i] / items[i][0].box_kg for i in container_items]
            needed = max(1, math.ceil(sum(usage) - 1e-9))
            if needed <= _MAX_BOXES:
                line = self._vessels["container"][_below(rng, len(self._vessels["container"]))]
                owners = line.owners
                for _ in range(needed):
                    box = container_id(owners[_below(rng, len(owners))], _below(rng, 10**6))
                    while box in boxes:  # a container is listed once per declaration
                        box = container_id(owners[_below(rng, len(owners))], _below(rng, 10**6))
                    boxes.append(box)
                    seal = [f"{box[:2]}{_below(rng, 10**7):07d}"]
                    if rng.random() < 0.2:
                        seal.append(f"{self.country}{_below(rng, 10**6):06d}")
                    seals.append(seal)
                start = 0.0
                for i, used in zip(container_items, usage):
                    first = int(start)
                    last = max(first, min(needed - 1, math.ceil(start + used) - 1))
                    item_boxes[i] = boxes[first : last + 1]
                    start += used
            elif vessel_kind == "container":
                vessel_kind = "bulk"

        # Registration bookkeeping.
        year = on.year
        key = (j, year)
        counters[key] = counters.get(key, 0) + 1
        office = self._offices[office_kind]
        lrn = f"{year}-{office.split('-')[1]}-{counters[key]:06d}"

        # Transport.
        if office_kind == "air":
            airline = self._catalog["airlines"][_below(rng, len(self._catalog["airlines"]))]
            means = {"identification": f"{airline['code']}{100 + _below(rng, 900)}", "nationality": airline["country"]}
            document = _awb(rng, airline["prefix"])
            while document in documents:
                document = _awb(rng, airline["prefix"])
            days_lo, days_hi = self._catalog["arrival_days"]["air"]
        elif office_kind == "road":
            if mode == "road":
                nationality = origin
            elif self._hauliers:
                nationality = self._hauliers[_below(rng, len(self._hauliers))]
            else:
                nationality = self.country
            plate = f"{_LETTERS[_below(rng, 26)]}{_LETTERS[_below(rng, 26)]}{_below(rng, 10**4):04d}{_LETTERS[_below(rng, 26)]}{_LETTERS[_below(rng, 26)]}"
            means = {"identification": plate, "nationality": nationality}
            document = f"LV{nationality}{year}{_below(rng, 10**6):06d}"
            while document in documents:
                document = f"LV{nationality}{year}{_below(rng, 10**6):06d}"
            days_lo, days_hi = self._catalog["arrival_days"]["sea" if routed_by_sea else "road"]
        else:
            if vessel_kind == "container" and line is not None:
                vessel = line
            else:
                pool = self._vessels[vessel_kind]
                vessel = pool[_below(rng, len(pool))]
            means = {"identification": vessel.imo, "name": vessel.name, "nationality": vessel.flag}
            document = f"{vessel.scac}{_below(rng, 10**9):09d}"
            while document in documents:
                document = f"{vessel.scac}{_below(rng, 10**9):09d}"
            days_lo, days_hi = self._catalog["arrival_days"]["sea"]
        documents.add(document)
        arrival = datetime(on.year, on.month, on.day, _below(rng, 24), 15 * _below(rng, 4), tzinfo=_UTC)
        arrival += timedelta(days=days_lo + _below(rng, days_hi - days_lo + 1))

        # Goods items of the payload, with the fraud applied to the affected one.
        declared_claim = None
        if kind == "false_origin":
            declared_claim = self._claims.pick(rng)  # type: ignore[union-attr]
        goods_items = []
        package_total = 0
        for index, (item, invoice) in enumerate(zip(items, invoices)):
            g, item_origin, net, units = item[0], item[1], item[2], item[3]
            shown = g
            declared_origin = item_origin
            if index == affected and kind == "misclassification":
                shown = goods[rng.choice(g.misdeclared_as)]
            if index == affected and kind == "false_origin":
                declared_origin = declared_claim
                regime = "community"
            elif item_origin in self._regional:
                regime = "community" if rng.random() < 0.9 else "general"
            else:
                regime = "general"
            net_text = f"{net:.1f}"
            gross_text = f"{grosses[index]:.1f}"
            if g.package_kg:
                packages = max(1, round(net / g.package_kg))
            elif g.unit == "NAR":
                packages = units
            else:
                packages = 1  # bulk
            package_total += packages
            entry: dict[str, Any] = {
                "sequence": index + 1,
                "hs_code": shown.code,
                "description": shown.descriptions[_below(rng, len(shown.descriptions))],
                "origin_country": declared_origin,
                "duty_regime": regime,
                "net_mass": net_text,
                "gross_mass": gross_text,
            }
            if shown.unit is not None:
                if shown is g and units:
                    quantity = units if shown.unit == "NAR" else net / ((g.unit_kg[0] + g.unit_kg[1]) / 2)  # type: ignore[index]
                else:
                    lo_kg, hi_kg = shown.unit_kg  # type: ignore[misc]
                    quantity = max(1.0, round(net / ((lo_kg + hi_kg) / 2)))
                entry["supplementary_quantity"] = str(int(quantity)) if shown.unit in ("NAR", "LTR") else f"{quantity:.1f}"
                entry["supplementary_unit"] = shown.unit
            entry["invoice_amount"] = str(invoice)
            entry["packages"] = [{"quantity": packages, "type_code": g.package}]
            if index in item_boxes:
                entry["container_ids"] = item_boxes[index]
            goods_items.append(entry)

        supplier_pool = importer.suppliers[origin]
        payload: dict[str, Any] = {
            "type_code": "IM",
            "procedure_code": "4000",
            "lrn": lrn,
            "declarant": self._declarants[j].party,
            "importer": importer.party,
            "exporter": supplier_pool[_below(rng, len(supplier_pool))],
            "office_code": office,
            "transport_mode_code": mode_code,
            "transport_means": means,
            "estimated_arrival": arrival.isoformat(),
            "transport_document_reference": document,
            "incoterm": incoterm,
            "invoice_currency": currency,
            "invoice_amount": str(invoice_total),
            "freight_amount": str(freight),
            "insurance_amount": str(insurance),
            "goods_item_quantity": len(goods_items),
            "total_package_quantity": package_total,
        }
        if boxes:
            payload["containers"] = [{"id": box, "seals": seal} for box, seal in zip(boxes, seals)]
        payload["goods_items"] = goods_items

        # Ground truth: the duty the lie hides, on the declared facts as lodging reads them.
        first = items[affected]
        if kind is None:
            truth = Truth(False, None, first[0].code, first[1], invoices[0], Decimal(0), 1)
        else:
            true_invoice = invoices[affected]
            if kind == "undervaluation":
                true_invoice = Decimal(fmt.format(max(true_fob * (1 + included), quantum)))
            truth = Truth(True, kind, first[0].code, first[1], true_invoice, Decimal(0), affected + 1)
            declared = declared_facts(self.country, payload, on)
            hidden = self.duty_fn(true_facts(declared, truth)) - self.duty_fn(declared)
            assert hidden >= 0, f"{kind} on {lrn} hides a negative duty ({hidden})"
            truth = replace(truth, hidden_duty=hidden)
        return GeneratedDeclaration(payload, on, truth)


# ---------------------------------------------------------------------------------------------
# Convenience


def generate(n: int, config: DemoConfig = DemoConfig()) -> list[GeneratedDeclaration]:
    """``n`` declarations of ``config``, in registration-date order.

    The cyclic garbage collector is paused while the list is built (the payloads hold no
    cycles, and scanning hundreds of thousands of live dicts would double the time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return list(DemoGenerator(config).generate(n))
    finally:
        if was_enabled:
            gc.enable()


def truth_record(decl: GeneratedDeclaration) -> dict[str, Any]:
    """The ground truth of a declaration as a JSON-ready dict, keyed by LRN and declarant id."""
    truth = decl.truth
    return {
        "lrn": decl.payload["lrn"],
        "declarant_id": decl.payload["declarant"]["id"],
        "registration_date": decl.registration_date.isoformat(),
        "fraud": truth.fraud,
        "kind": truth.kind,
        "item_sequence": truth.item_sequence,
        "true_hs_code": truth.true_hs_code,
        "true_origin": truth.true_origin,
        "true_invoice_amount": str(truth.true_invoice_amount),
        "hidden_duty": str(truth.hidden_duty),
    }


def write_jsonl(decls: Iterable[GeneratedDeclaration], path: str | Path, truth_path: str | Path) -> int:
    """Write one payload per line to ``path`` and its ground truth (keyed by LRN and declarant
    id, with the registration date) per line to ``truth_path``; return the number written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as payloads, Path(truth_path).open("w", encoding="utf-8") as truths:
        for decl in decls:
            payloads.write(json.dumps(decl.payload, ensure_ascii=False, separators=(",", ":")))
            payloads.write("\n")
            truths.write(json.dumps(truth_record(decl), ensure_ascii=False, separators=(",", ":")))
            truths.write("\n")
            count += 1
    return count
