"""Selectivity profiles (profils de risque): structured criteria, their actions, and the rule assessor.

A profile's ``when`` is a structured set of conditions (never evaluated code). Declaration
conditions must hold on the declaration. Item conditions (``hs_prefix``, ``origin``,
``value_per_kg_below`` ...) must all hold on one same goods item. A profile that hits forces its
lane (the strictest lane of all hits wins) and adds its score. A deterministic random selection
(a minimum random rate per lane, as in ASYCUDA) keeps every trader exposed to control.

A **cargo profile** has a ``cargo`` block instead of ``when``: conditions on a bill of lading of a
cargo report (consignee, shipper, carrier, places of loading, description keywords, containers,
gross mass, not loaded yet), and a ``refer`` action instead of a lane or a score: the referral the
bill gets (``avance.manifests.referrals``). The two kinds never mix: a declaration profile never
judges a bill, a cargo profile never judges a declaration.

Profiles live in the node's database (``avance.risk.profiles.service``); this module only knows their
shape and how they judge a declaration or a bill, so a YAML file (``rules.yaml``) describes them just as well.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from avance.kit.datafiles import load_yaml_model
from avance.declarations.model import GoodsDeclaration, GoodsItem
from avance.declarations.assessment import SIGNALS, Assessment, AssessmentInput, DrawRecord, ItemFacts, Lane, Reason, signal_reasons
from avance.manifests.model import DEFAULT_DEADLINE_HOURS, BillOfLading, CargoReport, ReferralKind
from avance.risk.policy.draw import SEPARATOR, Draw



def _plain(value: Decimal) -> Decimal:
    """One spelling per number (0.20 and 0.2, 1000 and 1E+3 are the same figure)."""
    return Decimal(format(value.normalize(), "f"))


Rate = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False, max_digits=12, decimal_places=6), AfterValidator(_plain)]
Threshold = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=24, decimal_places=6), AfterValidator(_plain)]
ProfileId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
"""A stable code such as ``P-TEXT-CN-LOW``: capitals, digits, ``.``, ``_`` and ``-``."""

RULE_ERROR = "profile_rule"
"""Pydantic error type of the profile checks below; ``ctx`` holds the catalog ``code`` and the ``field``."""


_Listed = Field(min_length=1, max_length=1000)
Identifiers = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,34}$")]], _Listed]
Names = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=70, strip_whitespace=True)]], _Listed]
Countries = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]], _Listed]
Procedures = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]], _Listed]
TransportModes = Annotated[list[Literal[1, 2, 3, 4, 5, 7, 8, 9]], _Listed]
Incoterms = Annotated[list[Literal["EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP"]], _Listed]
Currencies = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]], _Listed]
HsPrefixes = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[0-9]{2,10}$")]], _Listed]
HsCodes = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[0-9]{6,10}$")]], _Listed]
Units = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")]], _Listed]
Signals = Annotated[list[Literal[SIGNALS]], Field(min_length=1, max_length=len(SIGNALS))]  # type: ignore[valid-type]
LoCodes = Annotated[list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[A-Z2-9]{3}$")]], _Listed]


def _rule_error(code: str, field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(RULE_ERROR, message, {"code": code, "field": field})


def _words(text: str) -> str:
    """Lower case without accents or punctuation, single spaces: 'Médicaments (Pharma)' reads 'medicaments pharma'."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", stripped.casefold()).split())


def _keyword(text: str) -> str:
    if not _words(text):
        raise _rule_error("profiles.empty_keyword", "", "a keyword needs a letter or a digit")
    return text


Keywords = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=70, strip_whitespace=True), AfterValidator(_keyword)]], _Listed]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text2(_Model):
    fr: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
    en: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


def _name(text: str) -> str:
    return " ".join(text.split()).casefold()


DeclarationCheck = Callable[[GoodsDeclaration, AssessmentInput], bool]
ItemCheck = Callable[[GoodsDeclaration, GoodsItem, ItemFacts], bool]


def _membership(field_of: Callable[[GoodsDeclaration], Any], values: frozenset[Any], wanted: bool) -> DeclarationCheck:
    """A check that a declaration field is (``wanted``) or is not among ``values``."""
    return lambda d, s: (field_of(d) in values) is wanted


# Declaration conditions that test a field against a list: (condition, the field, in or not in).
_DECLARATION_LISTS: tuple[tuple[str, Callable[[GoodsDeclaration], Any], bool], ...] = (
    ("importer", lambda d: d.importer.id, True),
    ("not_importer", lambda d: d.importer.id, False),
    ("declarant", lambda d: d.declarant.id, True),
    ("office", lambda d: d.office_code, True),
    ("procedure", lambda d: d.procedure_code, True),
    ("transport_mode", lambda d: d.transport_mode_code, True),
    ("incoterm", lambda d: d.incoterm, True),
    ("invoice_currency", lambda d: d.invoice_currency, True),
)


class Conditions(_Model):
    """What a declaration must show for a profile to hit. Every given condition must hold."""

    # Declaration conditions
    importer: Identifiers | None = None
    not_importer: Identifiers | None = None
    declarant: Identifiers | None = None
    exporter: Names | None = Field(None, description="Exporter or seller: its identification or its name (case and spacing ignored).")
    export_country: Countries | None = Field(None, description="Country of the exporter (or, failing it, of the consignor).")
    office: Identifiers | None = None
    procedure: Procedures | None = None
    transport_mode: TransportModes | None = None
    incoterm: Incoterms | None = None
    invoice_currency: Currencies | None = None
    customs_value_above: Threshold | None = None
    duty_total_above: Threshold | None = None
    signal: Signals | None = Field(
        None,
        description="What lodging found beyond the figures, any of: split_consignment (one part of a split consignment),"
        " consignee_differs (a bill to order or to a bank, endorsed to an importer who is not its consignee).",
    )
    # Item conditions: all on one same item
    hs_prefix: HsPrefixes | None = None
    not_hs_prefix: HsPrefixes | None = None
    hs_code: HsCodes | None = None
    origin: Countries | None = None
    not_origin: Countries | None = None
    duty_regime: Literal["general", "community"] | None = None
    item_procedure: Procedures | None = None
    supplementary_unit: Units | None = None
    value_per_kg_below: Threshold | None = None
    value_per_kg_above: Threshold | None = None
    unit_value_below: Threshold | None = None
    unit_value_above: Threshold | None = None

    _declaration_checks: list[DeclarationCheck] = PrivateAttr(default_factory=list)
    _item_checks: list[ItemCheck] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> "Conditions":
        if not self.model_dump(exclude_none=True):
            raise _rule_error("profiles.no_condition", "", "a rule needs at least one condition")
        for low, high in (("value_per_kg_below", "value_per_kg_above"), ("unit_value_below", "unit_value_above")):
            below, above = getattr(self, low), getattr(self, high)
            if below is not None and above is not None and below <= above:
                raise _rule_error("profiles.empty_band", low, f"{low} must be greater than {high}, or no item can match")
        return self

    def model_post_init(self, _context: Any) -> None:
        self._declaration_checks = self._compile_declaration()
        self._item_checks = self._compile_items()

    def __eq__(self, other: object) -> bool:
        """Equal conditions say the same thing (the compiled checks are not compared)."""
        if not isinstance(other, Conditions):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # lists inside: not hashable, as before

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = None  # compiled checks: rebuilt on unpickling
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        object.__setattr__(self, "__pydantic_private__", {})
        self.model_post_init(None)

    def has_item_conditions(self) -> bool:
        return bool(self._item_checks)

    def _compile_declaration(self) -> list[DeclarationCheck]:
        checks: list[DeclarationCheck] = []
        for name, field_of, wanted in _DECLARATION_LISTS:
            values = getattr(self, name)
            if values is not None:
                checks.append(_membership(field_of, frozenset(values), wanted))
        if self.exporter is not None:
            exporters = frozenset(_name(e) for e in self.exporter)
            checks.append(
                lambda d, s: _name(d.exporter.name) in exporters or (d.exporter.id is not None and _name(d.exporter.id) in exporters)
            )
        if self.export_country is not None:
            countries = frozenset(self.export_country)

            def export_country(d: GoodsDeclaration, s: AssessmentInput) -> bool:
                country = d.exporter.country or (d.consignor.country if d.consignor is not None else None)
                return country in countries

            checks.append(export_country)
        if self.customs_value_above is not None:
            value = self.customs_value_above
            checks.append(lambda d, s: s.customs_value > value)
        if self.duty_total_above is not None:
            duty = self.duty_total_above
            checks.append(lambda d, s: s.duty_total > duty)
        if self.signal is not None:
            wanted_signals = frozenset(self.signal)
            checks.append(lambda d, s: not wanted_signals.isdisjoint(s.signals))
        return checks

    def _compile_items(self) -> list[ItemCheck]:
        checks: list[ItemCheck] = []
        if self.hs_prefix is not None:
            prefixes = tuple(self.hs_prefix)
            checks.append(lambda d, i, f: i.hs_code.startswith(prefixes))
        if self.not_hs_prefix is not None:
            not_prefixes = tuple(self.not_hs_prefix)
            checks.append(lambda d, i, f: not i.hs_code.startswith(not_prefixes))
        if self.hs_code is not None:
            codes = frozenset(self.hs_code)
            checks.append(lambda d, i, f: i.hs_code in codes)
        if self.origin is not None:
            origins = frozenset(self.origin)
            checks.append(lambda d, i, f: i.origin_country in origins)
        if self.not_origin is not None:
            not_origins = frozenset(self.not_origin)
            checks.append(lambda d, i, f: i.origin_country not in not_origins)
        if self.duty_regime is not None:
            regime = self.duty_regime
            checks.append(lambda d, i, f: i.duty_regime == regime)
        if self.item_procedure is not None:
            item_procedures = frozenset(self.item_procedure)
            checks.append(lambda d, i, f: (i.procedure_code or (d.procedure_code if d is not None else None)) in item_procedures)
        if self.supplementary_unit is not None:
            units = frozenset(self.supplementary_unit)
            checks.append(lambda d, i, f: i.supplementary_unit in units)
        checks += _per_unit(self.value_per_kg_below, self.value_per_kg_above, lambda i: i.net_mass)
        checks += _per_unit(self.unit_value_below, self.unit_value_above, lambda i: i.supplementary_quantity)
        return checks

    def declaration_holds(self, d: GoodsDeclaration, subject: AssessmentInput) -> bool:
        return all(check(d, subject) for check in self._declaration_checks)

    def item_holds(self, item: GoodsItem, facts: ItemFacts, d: GoodsDeclaration | None = None) -> bool:
        return all(check(d, item, facts) for check in self._item_checks)  # type: ignore[arg-type]


# --- cargo profiles: conditions on a bill of lading ------------------------------------------


BillCheck = Callable[[CargoReport, BillOfLading], bool]


def _party_is(names: frozenset[str]) -> Callable[[Any], bool]:
    """A party (or None) whose identification or name is among ``names`` (as ``_words`` reads them)."""
    return lambda party: party is not None and (_words(party.name) in names or (party.id is not None and _words(party.id) in names))


class CargoConditions(_Model):
    """What a bill of lading (and the cargo report carrying it) must show for a cargo profile to
    refer it. Every given condition must hold."""

    consignee: Names | None = Field(None, description="The consignee's identification or name (case, accents and punctuation ignored).")
    consignor: Names | None = Field(None, description="The consignor's (shipper's) identification or name (case, accents and punctuation ignored).")
    carrier: Identifiers | None = Field(None, description="The identification of the carrier that filed the cargo report.")
    port_of_loading: LoCodes | None = Field(None, description="The cargo report's port of loading (UN/LOCODE).")
    place_of_loading: LoCodes | None = Field(None, description="The cargo report's place of loading (UN/LOCODE); a report without one never matches.")
    description_keywords: Keywords | None = Field(
        None, description="Words or phrases, any of which appears as whole words in the bill's description (case, accents and punctuation ignored)."
    )
    containers_above: int | None = Field(None, ge=0, le=500, description="The bill has more containers than this.")
    gross_mass_above: Threshold | None = Field(None, description="The bill's gross mass exceeds this many kilograms.")
    not_loaded: Literal[True] | None = Field(None, description="The cargo report was filed before loading (``loaded: false``).")

    _checks: list[BillCheck] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> "CargoConditions":
        if not self.model_dump(exclude_none=True):
            raise _rule_error("profiles.no_condition", "", "a rule needs at least one condition")
        return self

    def model_post_init(self, _context: Any) -> None:
        self._checks = self._compile()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CargoConditions):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = None  # compiled checks: rebuilt on unpickling
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        object.__setattr__(self, "__pydantic_private__", {})
        self.model_post_init(None)

    def _compile(self) -> list[BillCheck]:
        checks: list[BillCheck] = []
        if self.consignee is not None:
            consignee = _party_is(frozenset(_words(n) for n in self.consignee))
            checks.append(lambda m, b: consignee(b.consignee))
        if self.consignor is not None:
            consignor = _party_is(frozenset(_words(n) for n in self.consignor))
            checks.append(lambda m, b: consignor(b.consignor))
        if self.carrier is not None:
            carriers = frozenset(self.carrier)
            checks.append(lambda m, b: m.carrier.id in carriers)
        if self.port_of_loading is not None:
            ports = frozenset(self.port_of_loading)
            checks.append(lambda m, b: m.port_of_loading in ports)
        if self.place_of_loading is not None:
            places = frozenset(self.place_of_loading)
            checks.append(lambda m, b: m.place_of_loading in places)
        if self.description_keywords is not None:
            keywords = tuple(f" {_words(k)} " for k in self.description_keywords)
            checks.append(lambda m, b: any(k in f" {_words(b.description)} " for k in keywords))
        if self.containers_above is not None:
            containers = self.containers_above
            checks.append(lambda m, b: len(b.containers) > containers)
        if self.gross_mass_above is not None:
            mass = self.gross_mass_above
            checks.append(lambda m, b: b.gross_mass > mass)
        if self.not_loaded:
            checks.append(lambda m, b: not m.loaded)
        return checks

    def holds(self, report: CargoReport, bill: BillOfLading) -> bool:
        return all(check(report, bill) for check in self._checks)


class Referral(_Model):
    """What a cargo profile does to a bill it matches: refer it to the carrier."""

    kind: ReferralKind = Field(description="request_for_information, request_for_screening or do_not_load.")
    deadline_hours: int | None = Field(
        None, ge=1, le=720, description=f"Hours the carrier has to answer, from the lodging; default {DEFAULT_DEADLINE_HOURS}."
    )

    @property
    def hours(self) -> int:
        return self.deadline_hours if self.deadline_hours is not None else DEFAULT_DEADLINE_HOURS


def _per_unit(below: Decimal | None, above: Decimal | None, quantity: Callable[[GoodsItem], Decimal | None]) -> list[ItemCheck]:
    """Customs value (national currency) per unit of ``quantity``; an item without quantity never matches."""
    if below is None and above is None:
        return []

    def check(d: GoodsDeclaration, item: GoodsItem, facts: ItemFacts) -> bool:
        q = quantity(item)
        if q is None or q <= 0:
            return False
        per_unit = facts.customs_value / q
        return (below is None or per_unit < below) and (above is None or per_unit > above)

    return [check]


class Rule(_Model):
    """A selectivity profile: who wrote it, when it applies, what it tests, what it does.

    A declaration profile has ``when`` and a lane or a score; a cargo profile has ``cargo`` and
    ``refer``."""

    id: ProfileId
    version: int = Field(1, ge=1, le=1_000_000, description="Set by the node: incremented on every change.")
    active: bool = True
    description: Text2
    author: Annotated[str, StringConstraints(max_length=70)] | None = Field(None, description="Set by the node: who saved this version.")
    valid_from: date | None = None
    valid_to: date | None = None
    when: Conditions | None = Field(None, description="Declaration conditions (a declaration profile).")
    cargo: CargoConditions | None = Field(None, description="Bill-of-lading conditions (a cargo profile, with `refer`).")
    lane: Lane | None = None
    score: Rate = Decimal(0)
    refer: Referral | None = Field(None, description="The referral a bill matching `cargo` gets (a cargo profile).")

    @model_validator(mode="after")
    def _coherent(self) -> "Rule":
        if self.valid_from is not None and self.valid_to is not None and self.valid_to < self.valid_from:
            raise _rule_error("profiles.valid_to_before_from", "valid_to", "valid_to is before valid_from")
        if self.when is None and self.cargo is None:
            raise _rule_error("profiles.no_condition", "when", "a rule needs conditions: when (declarations) or cargo (bills of lading)")
        if self.when is not None and self.cargo is not None:
            raise _rule_error("profiles.when_and_cargo", "cargo", "a rule judges declarations (when) or bills of lading (cargo), not both")
        if self.cargo is not None:
            for field in ("lane", "score"):
                if getattr(self, field):
                    raise _rule_error("profiles.cargo_lane", field, "a cargo profile refers bills: it has no lane or score")
            if self.refer is None:
                raise _rule_error("profiles.no_referral", "refer", "a cargo profile needs a referral (refer)")
            return self
        if self.refer is not None:
            raise _rule_error("profiles.refer_needs_cargo", "refer", "only a cargo profile refers bills of lading")
        if self.lane is None and self.score == 0:
            raise _rule_error("profiles.no_action", "lane", "a rule needs an action: a lane, a score above 0, or both")
        return self

    @property
    def targets_cargo(self) -> bool:
        """Whether this is a cargo profile (it refers bills of lading, never judges declarations)."""
        return self.cargo is not None

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_to is None or on <= self.valid_to)

    def hits(self, subject: AssessmentInput, item_conditions: bool | None = None) -> bool:
        """Whether the profile, active and in force, hits; ``item_conditions`` (default: computed)
        says whether it has item conditions, as the rule assessor precomputed it before."""
        d = subject.declaration
        if self.when is None or not self.active or not self.in_force(subject.registration_date):
            return False  # a cargo profile never judges a declaration
        if not self.when.declaration_holds(d, subject):
            return False
        if not (self.when.has_item_conditions() if item_conditions is None else item_conditions):
            return True
        return any(self.when.item_holds(item, facts, d) for item, facts in zip(d.goods_items, subject.items))

    def refers(self, report: CargoReport, bill: BillOfLading, on: date) -> bool:
        """Whether the profile, a cargo profile active and in force on ``on``, refers ``bill`` of ``report``."""
        if self.cargo is None or not self.active or not self.in_force(on):
            return False  # a declaration profile never judges a bill
        return self.cargo.holds(report, bill)

    def content(self) -> dict[str, Any]:
        """What the profile says, without what the node sets (version, author): equal means unchanged."""
        return self.model_dump(mode="json", exclude={"version", "author"}, exclude_none=True)


class RandomSelection(_Model):
    red: Rate = Decimal(0)
    yellow: Rate = Decimal(0)


class RuleSet(_Model):
    version: Literal[1] = 1
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "rules"
    default_lane: Lane = Lane.GREEN
    random_selection: RandomSelection = RandomSelection()
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> "RuleSet":
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")
        return self


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and check a rule file (default: the rules shipped with Avance)."""
    if path is not None:
        return load_yaml_model(RuleSet, path)
    return load_yaml_model(RuleSet, text=shipped_rules_text(), where="avance/risk/rules.yaml")


def shipped_rules_text() -> str:
    return resources.files(__package__).joinpath("rules.yaml").read_text(encoding="utf-8")


def matching_rules(ruleset: RuleSet, subject: AssessmentInput) -> list[Rule]:
    """The active profiles in force on the registration date that hit ``subject``, in file order."""
    return [rule for rule in ruleset.rules if rule.hits(subject)]


def cargo_matches(rules: Iterable[Rule], report: CargoReport, on: date) -> list[tuple[Rule, BillOfLading]]:
    """Each bill of ``report`` with each active cargo profile in force on ``on`` that refers it,
    bill by bill in the report's order, profiles in the order given."""
    cargo = [rule for rule in rules if rule.targets_cargo and rule.active and rule.in_force(on)]
    return [(rule, bill) for bill in report.bills_of_lading for rule in cargo if rule.refers(report, bill, on)]


def rule_reason(rule: Rule) -> Reason:
    """The stored reason of a hit: ``params`` name the profile, its version and its lane (hit tracking reads them)."""
    return Reason(
        "reason.rule_hit",
        {"rule": rule.id, "version": rule.version, "lane": (rule.lane or Lane.GREEN).value},
        text={"fr": f"{rule.id} : {rule.description.fr}", "en": f"{rule.id}: {rule.description.en}"},
    )


@dataclass
class RuleAssessor:
    """Assigns lanes from selectivity profiles plus a minimum random selection.

    The random selection draws with ``draw``, keyed with the node's secret (``avance.risk.policy.draw``):
    a rule set with random rates needs one, there is no unkeyed draw to fall back on."""

    rules: RuleSet
    name: str = "rules"
    draw: Draw | None = None

    def __post_init__(self) -> None:
        self._rules = [rule for rule in self.rules.rules if rule.active and rule.when is not None]  # cargo profiles refer bills
        selection = self.rules.random_selection
        if self.draw is None and (selection.red > 0 or selection.yellow > 0):
            raise ValueError("a rule set with a random selection needs the node's draw (its selection secret)")
        self._red_below = float(selection.red)
        self._yellow_below = float(selection.red + selection.yellow)

    def assess(self, subject: AssessmentInput) -> Assessment:
        d = subject.declaration
        lanes = [self.rules.default_lane]
        reasons: list[Reason] = []
        score = Decimal(0)
        for rule in self._rules:
            if rule.hits(subject):
                score += rule.score
                if rule.lane is not None:
                    lanes.append(rule.lane)
                reasons.append(rule_reason(rule))
        drawn: DrawRecord | None = None
        if self.draw is not None:
            u = self.draw.uniform(SEPARATOR.join((d.declarant.id, d.lrn)))
            drawn = DrawRecord(repr(u), self.draw.secret_id, repr(self._red_below), repr(self._yellow_below))
            if u < self._red_below:
                lanes.append(Lane.RED)
                reasons.append(Reason("reason.random", {"lane": Lane.RED.value}))
            elif u < self._yellow_below:
                lanes.append(Lane.YELLOW)
                reasons.append(Reason("reason.random", {"lane": Lane.YELLOW.value}))
        lane = Lane.strictest(lanes)
        if not reasons:
            reasons.append(Reason("reason.no_hit", {"lane": lane.value}))
        reasons.extend(signal_reasons(subject))  # what lodging found, said in plain words
        return Assessment(lane=lane, score=min(score, Decimal(1)), reasons=tuple(reasons), assessor=f"{self.name}:{self.rules.name}", draw=drawn)
