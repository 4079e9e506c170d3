"""SQL pieces the reports share: a time as seconds since the Unix epoch, computed by the database
on every engine, and the window of a date range as UTC datetimes."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class epoch(FunctionElement[float]):  # noqa: N801  (used like a SQL function)
    """Seconds since 1970-01-01T00:00:00Z of a stored UTC time, as a float (NULL stays NULL).

    The reports subtract times in bulk: reading 100,000 datetimes into Python objects costs far more
    than the database's own arithmetic."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC times as text; julianday() reads it (fractions of a second included)
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch)
def _epoch_default(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=timezone.utc)
