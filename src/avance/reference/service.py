"""Exchange rates in the store: dated rates an administration loads, read back as a ``RateTable``."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, delete, insert, select

from avance.reference.rates import Rate, RateTable
from avance.reference.tables import exchange_rates


def load_rates(conn: Connection, national: str) -> RateTable:
    """Every stored rate, as the table that converts into the ``national`` currency."""
    rows = conn.execute(select(exchange_rates.c.currency, exchange_rates.c.valid_from, exchange_rates.c.rate))
    return RateTable(national, [Rate(r[0], r[1], r[2]) for r in rows])


def store_rates(conn: Connection, rates: list[Rate]) -> int:
    """Load dated rates; a rate for the same currency and date replaces the old one."""
    now = datetime.now(timezone.utc)
    for rate in rates:
        conn.execute(delete(exchange_rates).where(exchange_rates.c.currency == rate.currency, exchange_rates.c.valid_from == rate.valid_from))
    if rates:
        conn.execute(
            insert(exchange_rates),
            [{"currency": r.currency, "valid_from": r.valid_from, "rate": r.rate, "loaded_at": now} for r in rates],
        )
    return len(rates)
