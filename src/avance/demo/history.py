"""A labelled history for the learned engine, from the demo generator.

An administration trains Avance's model on its own history of inspected declarations (an ASYCUDA
extract through a column mapping). The demo has no such history, so it generates one: the same
traders as the demo node's, over the year before, with the generator's ground truth as the
inspection results. Each goods item becomes one row of the canonical risk frame, with the values
and duties a node computes when the declaration is lodged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from avance.declarations.model import GoodsDeclaration
from avance.declarations.processing import MemoryLookups, NodeContext, process
from avance.demo.generator import GeneratedDeclaration
from avance.kit.errors import ValidationFailed
from avance.declarations.assessment import AssessmentInput, ItemFacts
from avance.risk.learning.frame import records_from_subject
from avance.risk.profiles.rules import RuleAssessor, RuleSet
from avance.risk.valuation.model import ValueRow, measure

# Columns of the labelled extract (``avance model demo-data``), in the order of the CSV file.
DEMO_COLUMNS = (
    "id", "declaration", "date", "office", "procedure", "importer", "declarant", "seller", "hs_code", "origin",
    "departure", "transport_mode", "tax_type", "net_mass", "gross_mass", "quantity", "value", "duty", "tax_rate",
    "fraud", "kind", "recovered",
)  # fmt: skip


@dataclass
class History:
    """A labelled history: risk-frame rows, unit values of the honest items (for the valuation
    references) and the number of generated declarations the node's rules refused."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    values: list[ValueRow] = field(default_factory=list)
    refused: int = 0


def labelled_history(ctx: NodeContext, generated: Iterable[GeneratedDeclaration]) -> History:
    """One row per goods item of the generated declarations, labelled with the ground truth.

    Labels sit on the goods item the fraud is about: ``fraud`` = 1 and ``recovered`` = the hidden
    duty (national currency) on that item's row; every other row has 0 and 0. Rows come in date
    order; declarations the node's rules refuse are left out (counted).
    """
    ctx = dataclasses.replace(ctx, assessor=RuleAssessor(RuleSet()))  # values and duties only
    lookups = MemoryLookups()
    history = History()
    rows = history.rows
    for g in generated:
        declaration = GoodsDeclaration.model_validate(g.payload)
        try:
            processed = process(ctx, declaration, g.registration_date, lookups)
        except ValidationFailed:
            history.refused += 1
            continue
        subject = AssessmentInput(
            declaration=declaration,
            country=ctx.country,
            currency=ctx.currency,
            registration_date=g.registration_date,
            items=tuple(ItemFacts(r.customs_value, r.duties.total if r.duties_due else Decimal(0)) for r in processed.items),
            duty_total=processed.duty_total,
            customs_value=processed.customs_value,
        )
        truth = g.truth
        key = f"{declaration.declarant.id}/{declaration.lrn}"
        for item, result, record in zip(declaration.goods_items, processed.items, records_from_subject(subject)):
            affected = truth.fraud and item.sequence == truth.item_sequence
            measured = measure(item.net_mass, item.supplementary_quantity, item.supplementary_unit)
            if measured is not None and not affected:
                history.values.append(ValueRow(item.hs_code, item.origin_country, measured[1], measured[0], result.customs_value, g.registration_date))
            record.update(
                id=f"{key}/{item.sequence}",
                declaration=key,
                date=g.registration_date.isoformat(),
                fraud=1 if affected else 0,
                kind=truth.kind if affected else "",
                recovered=str(truth.hidden_duty) if affected else "0",
            )
            rows.append({column: record.get(column) for column in DEMO_COLUMNS})
    rows.sort(key=lambda r: r["date"])  # stable: the generator's order within a day
    return history
