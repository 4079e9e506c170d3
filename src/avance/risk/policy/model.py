"""The selection policy: which declarations get which control lane, under the inspection budget.

The learned scorer gives each declaration a fraud probability and, when it was trained with revenue
labels, an expected recovered revenue; selectivity profiles may force a lane. The policy turns these
into lanes under the target rates an administration sets per office and period (e.g. 5% red, 10%
yellow), keeps a share of the red budget for exploration (labels only come from what is inspected,
so the model needs to see more than its own top picks) and a minimum purely random rate, so that
every trader stays exposed to control.

Two modes, same rules:

* ``select_batch`` (a vessel's whole manifest): exact counts per office;
* ``StreamingSelector`` (each lodging decided at once): a running quota per office and period,
  with a score threshold from a reference distribution and a controller that keeps the realised
  share near target.

Pure logic: no database, no I/O except reading the policy YAML. All draws come from the ``Draw``
the policy is given (an HMAC of the candidates' keys with the node's secret, see ``draw.py``):
deterministic for a given secret, so every decision can be reproduced by whoever holds the secret,
and by no one else. See docs/selection-policy.md.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator

from avance.kit.datafiles import load_yaml_model
from avance.kit.i18n import LANGUAGES, t
from avance.declarations.assessment import Lane, Reason
from avance.risk.policy.draw import Draw

Rate = Annotated[Decimal, Field(ge=0, le=1)]
Period = Literal["day", "week", "month"]
Objective = Literal["hits", "revenue"]
ExplorationMode = Literal["random", "uncertainty"]

# How a decision was reached (Decision.basis).
PROFILE, MODEL, EXPLORATION, RANDOM, DEFAULT = "profile", "model", "exploration", "random", "default"

# Streaming controller: a deficit of one selection (realised count below target) widens the model's
# share by target / CATCH_UP, so a deficit is made up over about CATCH_UP expected selections.
CATCH_UP = 10.0


# --------------------------------------------------------------------------- configuration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MinRandom(_Model):
    """Floors of purely random selection, as shares of all declarations."""

    red: Rate = Decimal("0.005")
    yellow: Rate = Decimal("0.01")


class MinRandomOverride(_Model):
    red: Rate | None = None
    yellow: Rate | None = None


class OfficeRates(_Model):
    """The lane rates of one office (the ``default`` section, or ``default`` merged with an override)."""

    red: Rate = Decimal("0.05")
    yellow: Rate = Decimal("0.10")
    blue: Rate = Decimal("0")
    min_random: MinRandom = MinRandom()
    exploration: Rate = Decimal("0.10")
    exploration_mode: ExplorationMode = "random"

    @model_validator(mode="after")
    def _consistent(self) -> "OfficeRates":
        total = self.red + self.yellow + self.blue
        if total > 1:
            raise ValueError(f"red + yellow + blue = {total} is more than 1")
        if self.min_random.red > self.red:
            raise ValueError(f"min_random.red ({self.min_random.red}) is more than red ({self.red}): the random floor is part of the red budget")
        if self.min_random.yellow > self.yellow:
            raise ValueError(f"min_random.yellow ({self.min_random.yellow}) is more than yellow ({self.yellow}): the random floor is part of the yellow budget")
        return self

    def random_red(self) -> Decimal:
        """Share of declarations sent to red by a purely random draw (exploration included when random)."""
        if self.exploration_mode == "random":
            return max(self.min_random.red, self.exploration * self.red)
        return self.min_random.red

    def uncertainty_red(self) -> Decimal:
        """Share of declarations sent to red for uncertainty-driven exploration."""
        return self.exploration * self.red if self.exploration_mode == "uncertainty" else Decimal(0)


class OfficeOverride(_Model):
    """What an office changes from ``default``; fields left out keep the default."""

    red: Rate | None = None
    yellow: Rate | None = None
    blue: Rate | None = None
    min_random: MinRandomOverride | None = None
    exploration: Rate | None = None
    exploration_mode: ExplorationMode | None = None

    def over(self, base: OfficeRates) -> OfficeRates:
        data = base.model_dump()
        for name, value in self.model_dump(exclude_none=True).items():
            data[name] = {**data[name], **value} if name == "min_random" else value
        return OfficeRates.model_validate(data)


class StreamingSettings(_Model):
    window: int = Field(2000, ge=10, le=1_000_000)  # last scores kept per office
    warmup: int = Field(200, ge=1)  # scores seen before the window replaces the reference
    max_overshoot: Decimal = Field(Decimal("1.5"), ge=1, le=10)  # ceiling: this many times the target share

    @model_validator(mode="after")
    def _warmup_fits(self) -> "StreamingSettings":
        if self.warmup > self.window:
            raise ValueError(f"warmup ({self.warmup}) is more than window ({self.window})")
        return self


class PolicyConfig(_Model):
    """The selection policy file (see policy.yaml and docs/selection-policy.md)."""

    version: Literal[1] = 1
    period: Period = "day"
    objective: Objective = "hits"
    default: OfficeRates = OfficeRates()
    offices: dict[Annotated[str, Field(min_length=1, max_length=64)], OfficeOverride] = Field(default_factory=dict)
    streaming: StreamingSettings = StreamingSettings()
    _resolved: dict[str, OfficeRates] = PrivateAttr(default_factory=dict)

    @field_validator("offices")
    @classmethod
    def _offices_consistent(cls, offices: dict[str, OfficeOverride], info: ValidationInfo) -> dict[str, OfficeOverride]:
        base = info.data.get("default")
        if base is None:  # the default section is wrong: that error is reported
            return offices
        for code, override in offices.items():
            try:
                override.over(base)
            except ValidationError as exc:
                message = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"{code}: {message}") from None
        return offices

    def rates(self, office: str) -> OfficeRates:
        """The rates that apply at ``office``: the default with the office's override, if any."""
        rates = self._resolved.get(office)
        if rates is None:
            override = self.offices.get(office)
            rates = override.over(self.default) if override is not None else self.default
            self._resolved[office] = rates
        return rates


def load_policy(path: Path | None = None) -> PolicyConfig:
    """Read and check a policy file (default: the policy shipped with Avance); DataFileError names the field."""
    if path is not None:
        return load_yaml_model(PolicyConfig, path)
    shipped = resources.files(__package__).joinpath("policy.yaml").read_text(encoding="utf-8")
    return load_yaml_model(PolicyConfig, text=shipped, where="avance/risk/policy.yaml")


def period_start(day: date, period: str) -> date:
    """First day of the quota period holding ``day``: the day, the Monday of its week, or the 1st of its month."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


_period_start = period_start  # for methods whose parameter is named period_start


# --------------------------------------------------------------------------- candidates and decisions


@dataclass(frozen=True, slots=True)
class Candidate:
    """One declaration to place in a lane.

    ``key`` is its stable identity (e.g. declarant and LRN): every draw derives from it and the
    node's secret, so the same declaration always gets the same draw on a node. ``fraud`` is the
    model's probability; ``recovery`` the expected recovered revenue (national currency,
    ``currency``) or None when the model has no revenue head; ``forced`` the strictest lane forced
    by selectivity profiles, a minimum (strictest wins).
    """

    key: str
    office: str
    day: date
    fraud: float
    recovery: float | None = None
    forced: Lane | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a candidate needs a key")
        fraud = _real(self.fraud, "fraud probability")
        if not 0.0 <= fraud <= 1.0:
            raise ValueError(f"fraud probability must be within [0, 1], not {self.fraud!r}")
        object.__setattr__(self, "fraud", fraud)
        if self.recovery is not None:
            recovery = _real(self.recovery, "expected recovery")
            if not (math.isfinite(recovery) and recovery >= 0):
                raise ValueError(f"expected recovery must be a finite amount >= 0, not {self.recovery!r}")
            object.__setattr__(self, "recovery", recovery)
        if self.forced is not None and not isinstance(self.forced, Lane):
            try:
                object.__setattr__(self, "forced", Lane(self.forced))
            except ValueError:
                raise ValueError(f"forced must be a lane, not {self.forced!r}") from None


def _real(value: Any, what: str) -> float:
    """``value`` as a float (numpy scalars included); never a bool or a string."""
    if isinstance(value, (bool, str, bytes)):
        raise ValueError(f"{what} must be a number, not {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, not {value!r}") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """The lane a candidate gets and why.

    ``basis``: "profile" (forced by a selectivity profile), "model" (priority within the budget),
    "exploration" (share of the red budget that keeps the model learning), "random" (minimum random
    rate) or "default" (not selected). ``threshold`` is the priority bar of the model selection
    (batch: the priority of the last candidate the model selected for the lane; streaming: the
    running threshold); ``rank`` the candidate's rank by priority in its office's batch (1 = first;
    None in streaming). ``objective`` is the ranking actually used ("hits": fraud probability,
    "revenue": expected recovery); ``over_budget`` says that profiles forced more controls than the
    budget allows (they still apply); ``capped`` that the lane's ceiling for the period was reached.
    """

    lane: Lane
    basis: str
    threshold: float | None = None
    rank: int | None = None
    score: float | None = None  # the candidate's priority (fraud probability or expected recovery)
    fraud: float | None = None
    objective: str = "hits"
    office: str = ""
    rate: Decimal | None = None  # target share of the lane at this office
    exploration: Decimal | None = None  # share of the red budget kept for exploration
    exploration_mode: str | None = None  # random | uncertainty, for exploration decisions
    total: int | None = None  # batch: declarations of this office in the batch
    mode: str = "batch"  # batch | stream
    over_budget: bool = False
    capped: bool = False
    currency: str | None = None
    draw: float | None = None  # the candidate's random draw, in [0, 1)
    random_below: tuple[float, float] | None = None  # stream, not capped: below [0] red at random, below [1] at least yellow

    def reason(self) -> Reason:
        """The decision as one plain sentence, in French and English (from the risk-policy catalogs)."""
        code, params = self._code_params()
        text = {lang: self._sentence(code, lang) for lang in LANGUAGES}
        return Reason(code, params, text=text)

    def _code_params(self) -> tuple[str, dict[str, Any]]:
        if self.basis == PROFILE:
            code = "policy.profile.over_budget" if self.over_budget else "policy.profile"
        elif self.basis == MODEL:
            code = f"policy.model.{self.mode}"
        elif self.basis == EXPLORATION:
            code = "policy.exploration.uncertainty" if self.exploration_mode == "uncertainty" else "policy.exploration.random"
        elif self.basis == RANDOM:
            code = "policy.random"
        else:
            below = self.threshold is not None and not self.capped  # a capped score may be above the bar
            code = "policy.default" if below else "policy.default.no_threshold"
        params: dict[str, Any] = {"lane": self.lane.value, "office": self.office, "objective": self.objective}
        for name in ("score", "threshold", "rank", "total", "rate", "exploration"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return code, params

    def _measure(self, value: float | None, lang: str) -> str:
        if value is None:
            return ""
        if self.objective == "revenue":
            return _amount(value, self.currency, lang)
        return _number(value, lang)

    def _sentence(self, code: str, lang: str) -> str:
        lane = t(f"policy.lane.{self.lane.value}", lang)
        measure_key = "policy.measure.revenue" if self.objective == "revenue" else "policy.measure.hits"
        measure = t(measure_key, lang, value=self._measure(self.score, lang))
        if self.basis == EXPLORATION and self.fraud is not None:
            measure = t("policy.measure.hits", lang, value=_number(self.fraud, lang))
        text = t(
            code,
            lang,
            lane=lane,
            measure=measure,
            office=self.office,
            threshold=self._measure(self.threshold, lang),
            rank=self.rank if self.rank is not None else "",
            total=self.total if self.total is not None else "",
            rate=_percent(self.rate, lang) if self.rate is not None else "",
            share=_percent(self.exploration, lang) if self.exploration is not None else "",
        )
        if self.capped:
            text += " " + t("policy.note.capped", lang, office=self.office)
        return text


def _number(value: float, lang: str) -> str:
    text = f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.3g}"
    return text.replace(".", ",") if lang == "fr" else text


def _amount(value: float, currency: str | None, lang: str) -> str:
    text = f"{round(value):,}"
    if lang == "fr":
        text = text.replace(",", "\u202f")
    return f"{text} {currency}" if currency else text


def _percent(rate: Decimal, lang: str) -> str:
    text = format((Decimal(rate) * 100).quantize(Decimal("0.01")).normalize(), "f")
    return text.replace(".", ",") + "\u202f%" if lang == "fr" else text + "%"


def _count(expected: Decimal, draw: float) -> int:
    """``expected`` rounded down or up at random (up with probability its fractional part): exact on average."""
    whole = int(expected)  # expected >= 0: int() floors
    return whole + (1 if Decimal(repr(draw)) < expected - whole else 0)


# --------------------------------------------------------------------------- batch mode


@dataclass(frozen=True, slots=True)
class OfficeBudget:
    """What a batch did at one office and period: budgets and what was selected."""

    office: str
    period_start: date
    declarations: int
    objective: str
    red_budget: int
    yellow_budget: int
    blue_budget: int
    red: int
    yellow: int
    blue: int
    forced_red: int
    forced_yellow: int
    forced_blue: int
    exploration: int
    random_red: int
    random_yellow: int

    @property
    def over_budget(self) -> bool:
        """Profiles forced more controls than a lane's budget (they still apply)."""
        return self.red > self.red_budget or self.yellow > self.yellow_budget or self.blue > self.blue_budget


@dataclass(frozen=True, slots=True)
class BatchPlan:
    decisions: list[Decision]  # in the order of the candidates
    offices: list[OfficeBudget]


def select_batch(config: PolicyConfig, candidates: Sequence[Candidate], *, draw: Draw) -> list[Decision]:
    """Lanes for a whole batch (e.g. a vessel's manifest), in the order of ``candidates``."""
    return plan_batch(config, candidates, draw=draw).decisions


def plan_batch(config: PolicyConfig, candidates: Sequence[Candidate], *, draw: Draw) -> BatchPlan:
    """Lanes for a whole batch, with each office's budgets and counts (to report profile overruns)."""
    groups: dict[tuple[str, date], list[int]] = {}
    for index, candidate in enumerate(candidates):
        groups.setdefault((candidate.office, period_start(candidate.day, config.period)), []).append(index)
    decisions: list[Decision | None] = [None] * len(candidates)
    budgets: list[OfficeBudget] = []
    for (office, start), indexes in sorted(groups.items()):
        group_decisions, budget = _plan_group(config, draw, office, start, [candidates[i] for i in indexes])
        budgets.append(budget)
        for index, decision in zip(indexes, group_decisions):
            decisions[index] = decision
    return BatchPlan([d for d in decisions if d is not None], budgets)


def _plan_group(config: PolicyConfig, keyed: Draw, office: str, start: date, cands: list[Candidate]) -> tuple[list[Decision], OfficeBudget]:
    rates = config.rates(office)
    n = len(cands)
    revenue = config.objective == "revenue" and all(c.recovery is not None for c in cands)
    objective = "revenue" if revenue else "hits"
    priority = [float(c.recovery) if revenue else c.fraud for c in cands]  # type: ignore[arg-type]
    draws = [keyed.uniform(c.key) for c in cands]
    order = sorted(range(n), key=lambda i: (-priority[i], -cands[i].fraud, draws[i], cands[i].key, i))
    rank = [0] * n
    for position, i in enumerate(order):
        rank[i] = position + 1
    digest = hashlib.sha256("\x1f".join(sorted(c.key for c in cands)).encode()).hexdigest()
    draw = keyed.uniform("batch", office, start.isoformat(), digest)  # one draw: monotone rounding across shares

    red_budget = _count(rates.red * n, draw)
    yellow_budget = _count(rates.yellow * n, draw)
    blue_budget = _count(rates.blue * n, draw)
    explore_target = _count(rates.exploration * red_budget, draw)
    floor_red = _count(rates.min_random.red * n, draw)
    floor_yellow = _count(rates.min_random.yellow * n, draw)

    lane: list[Lane | None] = [None] * n
    basis: list[str] = [DEFAULT] * n
    threshold: dict[Lane, float] = {}

    def free() -> list[int]:
        return [i for i in order if lane[i] is None]

    def assign(indexes: Sequence[int], to: Lane, why: str) -> None:
        for i in indexes:
            lane[i], basis[i] = to, why

    def model(count: int, to: Lane) -> None:
        picked = free()[:count]
        assign(picked, to, MODEL)
        if picked:
            threshold[to] = priority[picked[-1]]

    def randomly(count: int) -> list[int]:
        return sorted(free(), key=lambda i: (draws[i], cands[i].key, i))[:count]

    # red: profiles first (they always apply), then the model's top, then exploration and the random floor
    forced_red = [i for i in range(n) if cands[i].forced is Lane.RED]
    assign(forced_red, Lane.RED, PROFILE)
    room = max(0, red_budget - len(forced_red))
    if rates.exploration_mode == "random":
        explore = min(explore_target, room)
        n_random = max(floor_red, explore)
        uncertain = 0
    else:
        explore = 0
        n_random = floor_red
        uncertain = min(explore_target, max(0, room - n_random))
    model(max(0, room - n_random - uncertain), Lane.RED)
    if uncertain:
        by_doubt = sorted(free(), key=lambda i: (-(cands[i].fraud * (1 - cands[i].fraud)), draws[i], cands[i].key, i))
        assign(by_doubt[:uncertain], Lane.RED, EXPLORATION)
    drawn = randomly(n_random)
    assign(drawn[:explore], Lane.RED, EXPLORATION)
    assign(drawn[explore:], Lane.RED, RANDOM)

    # yellow: profiles, the next priorities, the random floor
    forced_yellow = [i for i in range(n) if lane[i] is None and cands[i].forced is Lane.YELLOW]
    assign(forced_yellow, Lane.YELLOW, PROFILE)
    room_yellow = max(0, yellow_budget - len(forced_yellow))
    model(max(0, room_yellow - floor_yellow), Lane.YELLOW)
    assign(randomly(floor_yellow), Lane.YELLOW, RANDOM)

    # blue: profiles, then the next priorities
    forced_blue = [i for i in range(n) if lane[i] is None and cands[i].forced is Lane.BLUE]
    assign(forced_blue, Lane.BLUE, PROFILE)
    model(max(0, blue_budget - len(forced_blue)), Lane.BLUE)

    for i in range(n):
        if lane[i] is None:
            lane[i] = Lane.GREEN
            basis[i] = PROFILE if cands[i].forced is Lane.GREEN else DEFAULT

    counts = {ln: sum(1 for x in lane if x is ln) for ln in Lane}
    budgets = {Lane.RED: red_budget, Lane.YELLOW: yellow_budget, Lane.BLUE: blue_budget}
    loosest = next((threshold[ln] for ln in (Lane.BLUE, Lane.YELLOW, Lane.RED) if ln in threshold), None)
    decisions = []
    for i, c in enumerate(cands):
        ln, why = lane[i], basis[i]
        assert ln is not None
        if why == MODEL:
            bar: float | None = threshold[ln]
        elif why == DEFAULT:
            bar = loosest
        else:
            bar = None
        decisions.append(
            Decision(
                lane=ln,
                basis=why,
                threshold=bar,
                rank=rank[i],
                score=priority[i],
                fraud=c.fraud,
                objective=objective,
                office=office,
                rate=_lane_rate(rates, ln, why),
                exploration=rates.exploration,
                exploration_mode=rates.exploration_mode if why == EXPLORATION else None,
                total=n,
                mode="batch",
                over_budget=why == PROFILE and ln in budgets and counts[ln] > budgets[ln],
                currency=c.currency,
                draw=draws[i],
            )
        )
    budget = OfficeBudget(
        office=office,
        period_start=start,
        declarations=n,
        objective=objective,
        red_budget=red_budget,
        yellow_budget=yellow_budget,
        blue_budget=blue_budget,
        red=counts[Lane.RED],
        yellow=counts[Lane.YELLOW],
        blue=counts[Lane.BLUE],
        forced_red=len(forced_red),
        forced_yellow=len(forced_yellow),
        forced_blue=len(forced_blue),
        exploration=sum(1 for b in basis if b == EXPLORATION),
        random_red=sum(1 for i in range(n) if basis[i] == RANDOM and lane[i] is Lane.RED),
        random_yellow=sum(1 for i in range(n) if basis[i] == RANDOM and lane[i] is Lane.YELLOW),
    )
    return decisions, budget


def _lane_rate(rates: OfficeRates, lane: Lane, basis: str) -> Decimal | None:
    """The share a decision's sentence quotes: the random floor for random picks, else the lane's target."""
    if basis == RANDOM:
        return rates.min_random.red if lane is Lane.RED else rates.min_random.yellow
    return {Lane.RED: rates.red, Lane.YELLOW: rates.yellow, Lane.BLUE: rates.blue}.get(lane)


# --------------------------------------------------------------------------- streaming mode


@dataclass(frozen=True, slots=True)
class QuotaState:
    """Counters of one office and quota period (what ``StreamingSelector.seed`` restores)."""

    office: str
    period_start: date
    lodged: int
    red: int
    yellow: int
    blue: int


class QuotaBook(Protocol):
    """Counters shared by every process of a node (``avance.risk.policy.quotas.SharedQuotas``):
    the selector decides against them instead of its own when they are at hand."""

    def hold(self, office: str, period: str, start: date) -> tuple[int, int, int, int] | None:
        """The office's (lodged, red, yellow, blue) for the period, held until the caller's
        transaction ends; None when there is none (the selector counts alone)."""
        ...

    def add(self, office: str, period: str, start: date, key: str, lane: Lane) -> None:
        """Count one decision in ``lane`` on the counters ``hold`` gave."""
        ...

    def snapshot(self, period: str) -> list[QuotaState]:
        """Every office's shared counters of its latest two periods."""
        ...


@dataclass(slots=True)
class _Counter:
    lodged: int = 0
    red: int = 0
    yellow: int = 0
    blue: int = 0

    def count(self, lane: Lane) -> int:
        return {Lane.RED: self.red, Lane.YELLOW: self.yellow, Lane.BLUE: self.blue}.get(lane, 0)

    def add(self, lane: Lane) -> None:
        if lane is Lane.RED:
            self.red += 1
        elif lane is Lane.YELLOW:
            self.yellow += 1
        elif lane is Lane.BLUE:
            self.blue += 1


class _Window:
    """The last ``size`` scores in arrival order and sorted: rank and quantile by bisection."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> None:
        bisect.insort(self._sorted, value)
        self._fifo.append(value)
        if len(self._fifo) > self._size:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def threshold(self, level: float) -> float:
        """The bar that a share ``1 - level`` of the scores lies strictly above (ties aside)."""
        k = math.ceil(level * len(self._sorted)) - 1
        if k < 0:
            return -math.inf
        return self._sorted[min(k, len(self._sorted) - 1)]

    def below(self, value: float) -> float:
        return bisect.bisect_left(self._sorted, value) / len(self._sorted)

    def at_most(self, value: float) -> float:
        return bisect.bisect_right(self._sorted, value) / len(self._sorted)


class _Reference:
    """A table of score quantiles at evenly spaced levels (the model's training scores, 101 points)."""

    def __init__(self, table: Sequence[float]) -> None:
        values = [float(v) for v in table]
        if len(values) < 2 or not all(math.isfinite(v) for v in values) or any(b < a for a, b in zip(values, values[1:])):
            raise ValueError("reference scores must be at least 2 finite quantiles in increasing order")
        self._q = values

    def threshold(self, level: float) -> float:
        if level <= 0:
            return -math.inf
        last = len(self._q) - 1
        position = level * last
        low = int(position)
        if low >= last:
            return self._q[last]
        return self._q[low] + (position - low) * (self._q[low + 1] - self._q[low])

    def at_most(self, value: float) -> float:
        q = self._q
        if value < q[0]:
            return 0.0
        if value >= q[-1]:
            return 1.0
        i = bisect.bisect_right(q, value)  # q[i - 1] <= value < q[i]
        return (i - 1 + (value - q[i - 1]) / (q[i] - q[i - 1])) / (len(q) - 1)

    below = at_most  # a continuous distribution


@dataclass(frozen=True, slots=True)
class _Live:
    """An office's rates as floats, split the way the streaming selector uses them."""

    rates: OfficeRates
    red: float
    yellow: float
    blue: float
    random_red: float  # u < random_red: red at random (exploration first when random)
    explore_random: float  # u < explore_random: the random pick counts as exploration
    uncertainty: float  # share of declarations explored by uncertainty
    floor_yellow: float  # random_red <= u < random_red + floor_yellow: yellow at random
    base_red: float  # model's share of red, before the controller
    base_yellow: float

    @classmethod
    def of(cls, rates: OfficeRates) -> "_Live":
        red, random_red, uncertainty = float(rates.red), float(rates.random_red()), float(rates.uncertainty_red())
        explore = float(rates.exploration * rates.red) if rates.exploration_mode == "random" else 0.0
        floor_yellow = float(rates.min_random.yellow)
        return cls(
            rates=rates,
            red=red,
            yellow=float(rates.yellow),
            blue=float(rates.blue),
            random_red=random_red,
            explore_random=explore,
            uncertainty=uncertainty,
            floor_yellow=floor_yellow,
            base_red=max(0.0, red - random_red - uncertainty),
            base_yellow=max(0.0, float(rates.yellow) - floor_yellow),
        )

    def target(self, lane: Lane) -> float:
        return {Lane.RED: self.red, Lane.YELLOW: self.yellow, Lane.BLUE: self.blue}[lane]


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _band(dist: _Window | _Reference, share: float, cap: float) -> tuple[float, float] | None:
    """The scores closest to 0.5 (highest p(1-p)), at most ``cap``, that hold ``share`` of the distribution."""

    def mass(d: float) -> float:
        return max(0.0, dist.at_most(min(0.5 + d, cap)) - dist.below(0.5 - d))

    if share <= 0 or cap < 0:
        return None
    if mass(0.5) <= share:
        return (0.0, min(1.0, cap))
    low, high = 0.0, 0.5
    for _ in range(30):
        middle = (low + high) / 2
        if mass(middle) < share:
            low = middle
        else:
            high = middle
    return (0.5 - high, min(0.5 + high, cap))


class StreamingSelector:
    """Decides each lodging at once, against a running quota per office and quota period.

    The model's bar for a lane is a quantile of a score distribution: ``reference_scores`` (the
    model's training score quantiles, e.g. 101 points) until the office has seen
    ``streaming.warmup`` scores, then the sliding window of its last ``streaming.window`` scores. A
    controller widens the model's share when the period's realised count is below target and
    narrows it when above; no lane exceeds ``max_overshoot`` times its target share in a period
    (at least one control allowed), except what profiles force. Counters reset when a new period
    starts; ``seed`` restores them after a restart. Thread-safe; each decision costs O(log window).

    With a ``book`` (the counters the node's processes share), a decision counts against the
    book's counters whenever it offers them (inside a write transaction), so that several
    processes keep one quota; the score windows stay each process's own (samples of the same
    stream).
    """

    def __init__(self, config: PolicyConfig, reference_scores: Sequence[float] | None = None, *, draw: Draw, book: QuotaBook | None = None) -> None:
        self.config = config
        self.draw = draw
        self.book = book
        self._reference = _Reference(reference_scores) if reference_scores is not None else None
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}
        self._counters: dict[str, dict[date, _Counter]] = {}
        self._windows: dict[tuple[str, str], _Window] = {}

    # -- state

    def seed(self, office: str, period_start: date, lodged: int, red: int, yellow: int, blue: int = 0) -> None:
        """Restore an office's counters for the period holding ``period_start`` (e.g. after a restart)."""
        values = {"lodged": lodged, "red": red, "yellow": yellow, "blue": blue}
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
        if red + yellow + blue > lodged:
            raise ValueError(f"red + yellow + blue ({red + yellow + blue}) is more than lodged ({lodged})")
        start = _period_start(period_start, self.config.period)
        with self._lock:
            counter = self._counter(office, start)
            counter.lodged, counter.red, counter.yellow, counter.blue = lodged, red, yellow, blue

    def sharing(self, book: QuotaBook) -> "StreamingSelector":
        """This selector (its policy, reference, draw, counters and windows) counting on ``book``."""
        other = StreamingSelector(self.config, None, draw=self.draw, book=book)
        with self._lock:
            other._reference = self._reference
            other._counters = {office: dict(periods) for office, periods in self._counters.items()}
            other._windows = dict(self._windows)
        return other

    def counters(self) -> list[QuotaState]:
        """The current counters, per office and period (the latest two periods of each office):
        the book's when the selector has one."""
        if self.book is not None:
            return self.book.snapshot(self.config.period)
        with self._lock:
            return [
                QuotaState(office, start, c.lodged, c.red, c.yellow, c.blue)
                for office, periods in sorted(self._counters.items())
                for start, c in sorted(periods.items())
            ]

    def _counter(self, office: str, start: date) -> _Counter:
        periods = self._counters.setdefault(office, {})
        counter = periods.get(start)
        if counter is None:
            counter = periods[start] = _Counter()
            for old in sorted(periods)[:-2]:  # keep this period and the one before (late lodgings)
                del periods[old]
        return counter

    def _rates(self, office: str) -> _Live:
        live = self._live.get(office)
        if live is None:
            live = self._live[office] = _Live.of(self.config.rates(office))
        return live

    def _window(self, office: str, kind: str) -> _Window:
        window = self._windows.get((office, kind))
        if window is None:
            window = self._windows[(office, kind)] = _Window(self.config.streaming.window)
        return window

    def _distribution(self, office: str, kind: str) -> _Window | _Reference | None:
        window = self._window(office, kind)
        if len(window) >= self.config.streaming.warmup:
            return window
        if kind == "fraud" and self._reference is not None:
            return self._reference
        return window if len(window) else None

    # -- decisions

    def decide(self, candidate: Candidate) -> Decision:
        """The lane of one lodging, counted at once against its office's quota for the period."""
        c = candidate
        start = period_start(c.day, self.config.period)
        draw = self.draw.uniform(c.key)
        shared = self.book.hold(c.office, self.config.period, start) if self.book is not None else None  # outside the lock: it may wait for another process
        with self._lock:
            live = self._rates(c.office)
            counter = self._counter(c.office, start)
            if shared is not None:
                counter.lodged, counter.red, counter.yellow, counter.blue = shared
            counter.lodged += 1
            kind, priority = "fraud", c.fraud
            if self.config.objective == "revenue" and c.recovery is not None:
                if len(self._window(c.office, "recovery")) >= self.config.streaming.warmup:
                    kind, priority = "recovery", float(c.recovery)
            decision = self._decide(c, live, counter, kind, priority, draw)
            counter.add(decision.lane)
            self._window(c.office, "fraud").add(c.fraud)
            if self.config.objective == "revenue" and c.recovery is not None:
                self._window(c.office, "recovery").add(float(c.recovery))
        if shared is not None and self.book is not None:
            self.book.add(c.office, self.config.period, start, c.key, decision.lane)
        return decision

    def _decide(self, c: Candidate, live: _Live, counter: _Counter, kind: str, priority: float, u: float) -> Decision:
        n = counter.lodged
        overshoot = float(self.config.streaming.max_overshoot)
        dist = self._distribution(c.office, kind)

        def share(lane: Lane, base: float) -> float:
            target = live.target(lane)
            return _clamp(base + target * (target * n - counter.count(lane)) / CATCH_UP)

        def ceiling(lane: Lane) -> int:
            target = live.target(lane)
            return 0 if target <= 0 else math.floor(overshoot * target * n + 1e-9) + 1

        def room(lane: Lane) -> bool:
            return counter.count(lane) + 1 <= ceiling(lane)

        def bar(level: float) -> float | None:
            return dist.threshold(_clamp(level)) if dist is not None else None

        q_red = share(Lane.RED, live.base_red)
        q_yellow = share(Lane.YELLOW, live.base_yellow)
        q_blue = share(Lane.BLUE, live.blue)
        bars = {
            Lane.RED: bar(1 - q_red),
            Lane.YELLOW: bar(1 - q_red - q_yellow) if live.yellow > 0 else None,
            Lane.BLUE: bar(1 - q_red - q_yellow - q_blue) if live.blue > 0 else None,
        }
        capped = False
        lane: Lane | None = None
        why = DEFAULT
        over = False
        explore_mode: str | None = None

        def above(target: Lane) -> bool:
            limit = bars[target]
            return limit is not None and priority > limit

        if c.forced is Lane.RED:
            lane, why, over = Lane.RED, PROFILE, not room(Lane.RED)
        else:
            wanted: tuple[str, str | None] | None = None
            if u < live.random_red:
                wanted = (EXPLORATION, "random") if u < live.explore_random else (RANDOM, None)
            elif above(Lane.RED):
                wanted = (MODEL, None)
            elif live.uncertainty > 0:
                fraud_dist = dist if kind == "fraud" else self._distribution(c.office, "fraud")
                cap = bars[Lane.RED] if kind == "fraud" and bars[Lane.RED] is not None else math.inf
                band = _band(fraud_dist, live.uncertainty, cap) if fraud_dist is not None else None
                if band is not None and band[0] <= c.fraud <= band[1] and not c.fraud > cap:
                    wanted = (EXPLORATION, "uncertainty")
            if wanted is not None:
                if room(Lane.RED):
                    lane, (why, explore_mode) = Lane.RED, wanted
                else:
                    capped = True
        if lane is None:
            if c.forced is Lane.YELLOW:
                lane, why, over = Lane.YELLOW, PROFILE, not room(Lane.YELLOW)
            elif live.random_red <= u < live.random_red + live.floor_yellow or above(Lane.YELLOW):
                random_pick = live.random_red <= u < live.random_red + live.floor_yellow
                if room(Lane.YELLOW):
                    lane, why = Lane.YELLOW, RANDOM if random_pick else MODEL
                else:
                    capped = True
        if lane is None:
            if c.forced is Lane.BLUE:
                lane, why, over = Lane.BLUE, PROFILE, not room(Lane.BLUE)
            elif above(Lane.BLUE):
                if room(Lane.BLUE):
                    lane, why = Lane.BLUE, MODEL
                else:
                    capped = True
        if lane is None:
            lane, why = Lane.GREEN, PROFILE if c.forced is Lane.GREEN else DEFAULT

        if why == MODEL:
            threshold = bars[lane]
        elif why == DEFAULT:
            threshold = next((bars[ln] for ln in (Lane.BLUE, Lane.YELLOW, Lane.RED) if bars[ln] is not None), None)
        else:
            threshold = None
        if threshold is not None and not math.isfinite(threshold):
            threshold = None
        return Decision(
            lane=lane,
            basis=why,
            threshold=threshold,
            rank=None,
            score=priority,
            fraud=c.fraud,
            objective="revenue" if kind == "recovery" else "hits",
            office=c.office,
            rate=_lane_rate(live.rates, lane, why),
            exploration=live.rates.exploration,
            exploration_mode=explore_mode,
            mode="stream",
            over_budget=over,
            capped=capped,
            currency=c.currency,
            draw=u,
            random_below=None if capped else (live.random_red, live.random_red + live.floor_yellow),
        )
