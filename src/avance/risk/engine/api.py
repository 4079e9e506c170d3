"""``GET /risk/engine``: what the risk engine of this node runs on, for analysts.

The installed model (training window, rows, fraud rate, metrics on its holdout), the selection
policy in force with each office's quota of the current period, and how many profiles and
valuation references it uses. Declarants get 403, officers too: this is the analysts' view.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from avance.auth.model import Principal, Role
from avance.kit.errors import Forbidden
from avance.auth.api import Caller
from avance.kit.http import NodeDep
from avance.risk.engine.service import LearnedAssessor

router = APIRouter(prefix="/risk", tags=["risk engine"])

MODEL_FIELDS = ("created_at", "avance_version", "format_version", "training_window", "rows", "fraud_rate", "has_revenue", "mapping", "metrics", "libraries")


def _analyst(caller: Principal) -> None:
    if caller.role not in (Role.ANALYST, Role.ADMIN):
        raise Forbidden("forbidden.role", role=caller.role.value)


@router.get("/engine", summary="The model, policy and quotas the risk engine runs on (analyst, admin)")
def engine_state(node: NodeDep, caller: Caller) -> dict[str, Any]:
    _analyst(caller)
    return _state(node)


@router.post(
    "/engine/reload",
    summary="Use the current model, profiles, valuation references and policy file now (analyst, admin)",
    description="After `avance model retrain` or `avance model use`, `avance valuation build` or a profile import from the "
    "command line: the node reloads them without a restart; the quotas of the period are restored from the store.",
)
def engine_reload(node: NodeDep, caller: Caller) -> dict[str, Any]:
    _analyst(caller)
    node.reload()
    return _state(node)


def _state(node: Any) -> dict[str, Any]:
    assessor = node.context.assessor
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
