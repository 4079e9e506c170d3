"""Deadlines of mirror control and transit that nobody else watches, as periodic jobs of the
node's exchange worker (given to it by ``avance.bootstrap``)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Engine

from avance.exchange.worker import Job
from avance.kit.settings import Settings
from avance.movements.matching.model import policy_from
from avance.movements.matching.service import sweep
from avance.movements.transit.service import raise_overdue_alerts
from avance.revenue.context import reference_context
from avance.store.engine import write

DAY = 24 * 3600.0


def jobs(settings: Settings) -> list[Job]:
    """Overdue transits raise an alert (every minute); exports with no import after the matching
    deadline become *non retrouvée* (once a day)."""

    def overdue_transits(engine: Engine) -> None:
        with write(engine) as conn:
            raise_overdue_alerts(conn)

    def unmatched_exports(engine: Engine) -> None:
        with write(engine) as conn:
            sweep(conn, reference_context(conn, settings), today=datetime.now(timezone.utc).date(), policy=policy_from(settings))

    return [Job("overdue-transits", 60.0, overdue_transits), Job("unmatched-exports", DAY, unmatched_exports)]
