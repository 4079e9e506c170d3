"""What other capabilities add to a lodging, without declarations knowing them.

The composition root (``avance.bootstrap``) gives the node's ``NodeContext`` its steps:

- ``AfterLodging`` steps run in the lodging transaction, after the declarations are stored, in the
  order given (the risk engine records which profiles hit; mirror control may raise a lane through
  ``declarations.service.raise_lane``). Whatever path lodges (API, bulk import, demo), they run.
- ``Annex`` readers add a section to a declaration's detail (its mirror-control outcome).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from avance.declarations.assessment import Assessment
from avance.declarations.model import GoodsDeclaration

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from avance.revenue.context import ReferenceContext


@dataclass(frozen=True, slots=True)
class Lodged:
    """A declaration just stored, as the steps that follow a lodging see it."""

    id: int
    declaration: GoodsDeclaration
    assessment: Assessment
    at: datetime


class AfterLodging(Protocol):
    """A step run in the lodging transaction once declarations are stored."""

    def __call__(self, conn: "Connection", ctx: "ReferenceContext", lodged: Sequence[Lodged]) -> None: ...


class Annex(Protocol):
    """A section another capability adds to a declaration's detail, in the reader's language."""

    def __call__(self, conn: "Connection", declaration_id: int, lang: str) -> Any: ...
