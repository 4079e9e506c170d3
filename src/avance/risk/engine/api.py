"""``GET /risk/engine``: what the risk engine of this node runs on, for analysts.

The installed model (training window, rows, fraud rate, metrics on its holdout), the selection
policy in force with each office's quota of the current period, and how many profiles and
valuation references it uses. Declarants get 403, officers too: this is the analysts' view
(``Action.RUN_RISK_ENGINE`` in the role table).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.http import DateText, NodeDep
from avance.risk.engine.service import engine_state_of
from avance.risk.policy.model import PolicyConfig

router = APIRouter(prefix="/risk", tags=["risk engine"])

Analyst = Annotated[Principal, Allowed(Action.RUN_RISK_ENGINE)]



class InstalledModel(BaseModel):
    """The learned model in use, as its metadata describes it."""

    name: str | None = Field(description="Its directory in the models directory.")
    created_at: str | None
    avance_version: str | None
    format_version: int | str | None
    training_window: dict[str, Any] | None = Field(description="First and last day of the declarations it learned from.")
    rows: int | None
    fraud_rate: float | None
    has_revenue: bool | None = Field(description="Whether it also predicts the revenue a control recovers.")
    mapping: Any = Field(description="The column mapping of its training data, if any.")
    metrics: dict[str, Any] | None = Field(description="Its measures on the holdout (AUC, precision at the red share...).")
    libraries: dict[str, Any] | None


class Quota(BaseModel):
    office: str
    period_start: DateText
    lodged: int
    red: int
    yellow: int
    blue: int


class EngineState(BaseModel):
    """What the risk engine runs on. An engine without a model, profiles or policy (a node set up
    with another assessor) gives only its name."""

    engine: str = Field(description="The assessor, e.g. `learned:<model>`.")
    model: InstalledModel | None = None
    profiles: list[str] | None = Field(None, description="Ids of the profiles in force.")
    valuation_references: int | None = None
    policy: PolicyConfig | None = Field(None, description="The selection policy in force.")
    quotas: list[Quota] | None = Field(None, description="Each office's counters of the current quota period.")
    selection_secret: str | None = Field(
        None, description="Id of the node secret the random selection draws with (`avance selection rotate-secret`); never the secret itself."
    )


@router.get(
    "/engine",
    response_model=EngineState,
    response_model_exclude_unset=True,
    summary="The model, policy and quotas the risk engine runs on (analyst, admin)",
)
def engine_state(node: NodeDep, caller: Analyst) -> dict[str, Any]:
    return engine_state_of(node.context.assessor)


@router.post(
    "/engine/reload",
    response_model=EngineState,
    response_model_exclude_unset=True,
    summary="Use the current model, profiles, valuation references and policy file now (analyst, admin)",
    description="After `avance model retrain` or `avance model use`, `avance valuation build`, a profile import or "
    "`avance selection rotate-secret` from the command line: the node reloads them without a restart; the quotas of the "
    "period are restored from the store.",
)
def engine_reload(node: NodeDep, caller: Analyst) -> dict[str, Any]:
    node.reload()
    return engine_state_of(node.context.assessor)
