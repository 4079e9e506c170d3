"""The learned risk engine: profiles, valuation references, the learned scorer and the selection
policy, combined into one lane decision with its reasons.

``LearnedAssessor`` implements the ``Assessor`` seam. For each declaration it:

1. evaluates the selectivity profiles in force (a profile may force a lane and add to the score);
2. compares every item's unit value with the valuation references (revenue at risk);
3. scores every item with the learned model (probability of fraud, expected recovery) and keeps the
   top contributions of the riskiest item;
4. lets the selection policy decide the lane: against the office's running quota for each
   lodging (``assess``), or over a whole set at once, such as a vessel's manifest in a bulk
   import (``assess_batch``).

Mirror control (a partner's export declaration that does not match) raises the lane right after
the declaration is stored, in the same transaction (``avance.movements.matching``).

Every step that fires leaves a reason, rendered in French and English when stored. The assessor
does no I/O: the model, the references and the profiles are loaded by the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from avance.declarations.assessment import Assessment, AssessmentInput, DrawRecord, Lane, Reason, signal_reasons
from avance.declarations.tables import declarations
from avance.risk.learning.registry import current_model_dir
from avance.risk.policy.model import Candidate, Decision, StreamingSelector, load_policy, period_start, select_batch
from avance.risk.policy.service import current_draw
from avance.risk.profiles.rules import RuleSet, matching_rules, rule_reason
from avance.risk.profiles.service import load_ruleset
from avance.risk.valuation.check import check_item
from avance.risk.valuation.model import ValuationIndex
from avance.risk.valuation.service import load_index

if TYPE_CHECKING:
    from avance.risk.learning.model import RiskModel
    from sqlalchemy import Connection

    from avance.kit.settings import Settings
    from avance.revenue.context import ReferenceContext

# How much an under-valuation flag raises the probability used for selection: the flag is strong
# evidence on its own (the odds of fraud are multiplied), but the model keeps the ranking.
VALUATION_WEIGHT = 0.35
TOP_CONTRIBUTIONS = 3


def _combine(p: float, weight: float) -> float:
    return p + (1.0 - p) * weight


@dataclass
class LearnedAssessor:
    """Profiles + valuation + learned model + selection policy."""

    ruleset: RuleSet
    selector: StreamingSelector
    model: "RiskModel | None" = None
    valuation: "ValuationIndex | None" = None
    model_name: str | None = None  # the installed model's directory name
    reference: "ReferenceContext | None" = field(default=None, repr=False)  # values the revenue at risk
    name: str = "learned"

    @property
    def label(self) -> str:
        if self.model is None:
            return f"{self.name}:profiles"
        return f"{self.name}:{self.model_name or 'model'}"[:64]

    def assess(self, subject: AssessmentInput) -> Assessment:
        """Streaming: decide this lodging at once, against its office's running quota."""
        candidate, reasons = self._evidence(subject)
        return self._assessment(candidate, reasons, self.selector.decide(candidate))

    def reload_profiles(self, conn: "Connection") -> None:
        """Use the profiles as they now stand in the database (after an analyst changed them)."""
        self.ruleset = load_ruleset(conn)

    def reload_valuation(self, conn: "Connection") -> None:
        """Use the valuation references and overrides as they now stand in the database."""
        self.valuation = load_index(conn)

    def assess_batch(self, subjects: Sequence[AssessmentInput]) -> list[Assessment]:
        """Batch: decide a whole set at once (e.g. a vessel's manifest), each office's budget
        applied to the set by priority."""
        evidence = [self._evidence(s) for s in subjects]
        decisions = select_batch(self.selector.config, [candidate for candidate, _ in evidence], draw=self.selector.draw)
        return [self._assessment(c, reasons, decision) for (c, reasons), decision in zip(evidence, decisions)]

    def _assessment(self, candidate: Candidate, reasons: list[Reason], decision: Decision) -> Assessment:
        score = Decimal(f"{min(max(candidate.fraud, 0.0), 1.0):.4f}")
        drawn = None
        if decision.draw is not None:
            bands = decision.random_below
            red_below, yellow_below = (repr(bands[0]), repr(bands[1])) if bands is not None else (None, None)
            drawn = DrawRecord(repr(decision.draw), self.selector.draw.secret_id, red_below, yellow_below)
        return Assessment(lane=decision.lane, score=score, reasons=(decision.reason(), *reasons), assessor=self.label, draw=drawn)

    def _evidence(self, subject: AssessmentInput) -> tuple[Candidate, list[Reason]]:
        """What profiles, valuation and the model say: the policy's candidate and the reasons."""
        d = subject.declaration
        reasons: list[Reason] = []
        forced: list[Lane] = []

        # 1. Selectivity profiles.
        profile_score = 0.0
        for rule in matching_rules(self.ruleset, subject):
            profile_score += float(rule.score)
            if rule.lane is not None:
                forced.append(rule.lane)
            reasons.append(rule_reason(rule))
        reasons.extend(signal_reasons(subject))  # split consignment, consignee differs: said in plain words

        # 2. Valuation references.
        at_risk = Decimal(0)
        flagged = False
        if self.valuation is not None and self.reference is not None:
            for position in range(len(d.goods_items)):
                flag = check_item(self.valuation, self.reference, subject, position)
                if flag is not None:
                    flagged = flagged or flag.revenue_at_risk > 0 or flag.ratio < 1
                    at_risk += flag.revenue_at_risk
                    reasons.append(flag.reason())

        # 3. The learned model.
        fraud = min(profile_score, 1.0)
        recovery: float | None = None
        if self.model is not None:
            # Loaded with the first model only: a node without one never imports pandas and LightGBM
            # (about 50 MB in the API and in each bulk-import worker).
            from avance.risk.learning.frame import records_from_subject

            records = records_from_subject(subject)
            scores, explanations = self.model.assess_records(records, top=TOP_CONTRIBUTIONS)
            probabilities = [float(p) for p in scores.fraud]
            riskiest = max(range(len(probabilities)), key=probabilities.__getitem__)
            fraud = _combine(probabilities[riskiest], min(profile_score, 1.0))
            if scores.recovery is not None:
                recovery = float(sum(float(r) for r in scores.recovery))
            reasons.extend(c.reason() for c in explanations[riskiest])
        if flagged:
            fraud = _combine(fraud, VALUATION_WEIGHT)
        if at_risk > 0:
            recovery = (recovery or 0.0) + float(at_risk) * fraud
        if not math.isfinite(fraud):
            fraud = 0.0

        # 4. What the selection policy weighs.
        candidate = Candidate(
            key=f"{d.declarant.id}\x1f{d.lrn}",
            office=d.office_code,
            day=subject.registration_date,
            fraud=min(max(fraud, 0.0), 1.0),
            recovery=recovery,
            currency=subject.currency,
            forced=Lane.strictest(forced) if forced else None,
        )
        return candidate, reasons


def load_engine(settings: "Settings", conn: "Connection", reference: "ReferenceContext") -> LearnedAssessor:
    """The engine a node runs: its profiles, valuation references and installed model, and the
    selection policy with its quotas restored from today's lodgings, drawing with the node's
    current selection secret (read again on every reload: a rotated secret is picked up)."""
    policy = load_policy(settings.policy_file)
    model = None
    directory = current_model_dir(settings.resolved_models_dir())
    if directory is not None:
        from avance.risk.learning.model import RiskModel  # only with an installed model: see _evidence

        model = RiskModel.load(directory)
    quantiles = None
    if model is not None:
        quantiles = model.metadata.get("declaration_score_quantiles") or model.metadata.get("score_quantiles")
    selector = StreamingSelector(policy, quantiles, draw=current_draw(conn))
    restore_quotas(conn, selector, policy)
    return LearnedAssessor(
        ruleset=load_ruleset(conn),
        selector=selector,
        model=model,
        valuation=load_index(conn),
        model_name=directory.name if directory is not None else None,
        reference=reference,
    )


def restore_quotas(conn: "Connection", selector: StreamingSelector, policy: Any, today: date | None = None) -> None:
    """Seed the running quotas with what was already decided this period (after a restart)."""
    today = today or datetime.now(timezone.utc).date()
    start = period_start(today, policy.period)
    rows = conn.execute(
        select(declarations.c.office_code, declarations.c.lane, func.count())
        .where(declarations.c.registration_date >= start)
        .group_by(declarations.c.office_code, declarations.c.lane)
    )
    counts: dict[str, dict[str, int]] = {}
    for office, lane, count in rows:
        counts.setdefault(office, {})[lane] = int(count)
    for office, lanes in counts.items():
        selector.seed(
            office,
            start,
            lodged=sum(lanes.values()),
            red=lanes.get(Lane.RED.value, 0),
            yellow=lanes.get(Lane.YELLOW.value, 0),
            blue=lanes.get(Lane.BLUE.value, 0),
        )


MODEL_FIELDS = ("created_at", "avance_version", "format_version", "training_window", "rows", "fraud_rate", "has_revenue", "mapping", "metrics", "libraries")
"""What of an installed model's metadata is shown."""


def engine_state_of(assessor: Any) -> dict[str, Any]:
    """What the risk engine runs on, in words an analyst reads: the model and its training, the
    profiles, the valuation references, the policy, the selection secret's id and each office's
    quota of the period (``GET /risk/engine`` and the analysts' model page)."""
    if not isinstance(assessor, LearnedAssessor):
        return {"engine": getattr(assessor, "name", "unknown")}
    model = assessor.model
    policy = assessor.selector.config
    return {
        "engine": assessor.label,
        "model": None if model is None else {"name": assessor.model_name, **{k: model.metadata.get(k) for k in MODEL_FIELDS}},
        "profiles": [rule.id for rule in assessor.ruleset.rules],
        "valuation_references": 0 if assessor.valuation is None else sum(assessor.valuation.counts().values()),
        "policy": policy.model_dump(mode="json"),
        "selection_secret": assessor.selector.draw.secret_id,
        "quotas": [
            {
                "office": q.office,
                "period_start": q.period_start.isoformat(),
                "lodged": q.lodged,
                "red": q.red,
                "yellow": q.yellow,
                "blue": q.blue,
            }
            for q in assessor.selector.counters()
        ],
    }
