"""The first assessor: selectivity criteria read from a YAML file an analyst can edit.

A rule's ``when`` is a structured set of conditions (never evaluated code). Item conditions
(``hs_prefix``, ``origin``, ``duty_regime``, ``value_per_kg_below``/``above``) must all hold on one
same goods item; declaration conditions must hold on the declaration. A rule that hits forces its
lane (the strictest lane of all hits wins) and adds its score. A deterministic random selection
(a minimum random rate per lane, as in ASYCUDA) keeps every trader exposed to control.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avance.datafiles import load_yaml_model

from avance.declarations.model import GoodsDeclaration, GoodsItem
from avance.risk.assessor import Assessment, AssessmentInput, ItemFacts, Lane, Reason

Rate = Annotated[Decimal, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text2(_Model):
    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Conditions(_Model):
    hs_prefix: list[Annotated[str, Field(pattern=r"^[0-9]{2,10}$")]] | None = None
    origin: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] | None = None
    duty_regime: Literal["general", "community"] | None = None
    value_per_kg_below: Decimal | None = None
    value_per_kg_above: Decimal | None = None
    importer: list[str] | None = None
    declarant: list[str] | None = None
    office: list[str] | None = None
    procedure: list[str] | None = None
    transport_mode: list[int] | None = None
    customs_value_above: Decimal | None = None
    duty_total_above: Decimal | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "Conditions":
        if not self.model_dump(exclude_none=True):
            raise ValueError("a rule needs at least one condition")
        return self

    def has_item_conditions(self) -> bool:
        return any(
            v is not None
            for v in (self.hs_prefix, self.origin, self.duty_regime, self.value_per_kg_below, self.value_per_kg_above)
        )

    def declaration_holds(self, d: GoodsDeclaration, subject: AssessmentInput) -> bool:
        if self.importer is not None and d.importer.id not in self.importer:
            return False
        if self.declarant is not None and d.declarant.id not in self.declarant:
            return False
        if self.office is not None and d.office_code not in self.office:
            return False
        if self.procedure is not None and d.procedure_code not in self.procedure:
            return False
        if self.transport_mode is not None and d.transport_mode_code not in self.transport_mode:
            return False
        if self.customs_value_above is not None and not subject.customs_value > self.customs_value_above:
            return False
        if self.duty_total_above is not None and not subject.duty_total > self.duty_total_above:
            return False
        return True

    def item_holds(self, item: GoodsItem, facts: ItemFacts) -> bool:
        if self.hs_prefix is not None and not item.hs_code.startswith(tuple(self.hs_prefix)):
            return False
        if self.origin is not None and item.origin_country not in self.origin:
            return False
        if self.duty_regime is not None and item.duty_regime != self.duty_regime:
            return False
        if self.value_per_kg_below is not None or self.value_per_kg_above is not None:
            if item.net_mass <= 0:
                return False
            per_kg = facts.customs_value / item.net_mass
            if self.value_per_kg_below is not None and not per_kg < self.value_per_kg_below:
                return False
            if self.value_per_kg_above is not None and not per_kg > self.value_per_kg_above:
                return False
        return True


class Rule(_Model):
    id: str = Field(min_length=1, max_length=64)
    description: Text2
    author: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    when: Conditions
    lane: Lane | None = None
    score: Rate = Decimal(0)

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_to is None or on <= self.valid_to)

    def hits(self, subject: AssessmentInput, item_conditions: bool) -> bool:
        d = subject.declaration
        if not self.in_force(subject.registration_date):
            return False
        if not self.when.declaration_holds(d, subject):
            return False
        if not item_conditions:
            return True
        return any(self.when.item_holds(item, facts) for item, facts in zip(d.goods_items, subject.items))


class RandomSelection(_Model):
    red: Rate = Decimal(0)
    yellow: Rate = Decimal(0)


class RuleSet(_Model):
    version: Literal[1] = 1
    name: str = "rules"
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
    shipped = resources.files(__package__).joinpath("rules.yaml").read_text(encoding="utf-8")
    return load_yaml_model(RuleSet, text=shipped, where="avance/risk/rules.yaml")


def _uniform(*parts: str) -> float:
    """A reproducible number in [0, 1) from the declaration's identity."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class RuleAssessor:
    """Assigns lanes from selectivity rules plus a minimum random selection."""

    rules: RuleSet
    name: str = "rules"

    def __post_init__(self) -> None:
        self._rules = [(rule, rule.when.has_item_conditions()) for rule in self.rules.rules]

    def assess(self, subject: AssessmentInput) -> Assessment:
        d = subject.declaration
        lanes = [self.rules.default_lane]
        reasons: list[Reason] = []
        score = Decimal(0)
        for rule, item_conditions in self._rules:
            if rule.hits(subject, item_conditions):
                score += rule.score
                if rule.lane is not None:
                    lanes.append(rule.lane)
                reasons.append(
                    Reason(
                        "reason.rule_hit",
                        {"rule": rule.id, "lane": (rule.lane or Lane.GREEN).value},
                        text={"fr": f"{rule.id} : {rule.description.fr}", "en": f"{rule.id}: {rule.description.en}"},
                    )
                )
        draw = Decimal(repr(_uniform(d.declarant.id, d.lrn)))
        selection = self.rules.random_selection
        if draw < selection.red:
            lanes.append(Lane.RED)
            reasons.append(Reason("reason.random", {"lane": Lane.RED.value}))
        elif draw < selection.red + selection.yellow:
            lanes.append(Lane.YELLOW)
            reasons.append(Reason("reason.random", {"lane": Lane.YELLOW.value}))
        lane = Lane.strictest(lanes)
        if not reasons:
            reasons.append(Reason("reason.no_hit", {"lane": lane.value}))
        return Assessment(lane=lane, score=min(score, Decimal(1)), reasons=tuple(reasons), assessor=f"{self.name}:{self.rules.name}")
