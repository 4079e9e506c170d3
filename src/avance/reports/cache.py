"""Figures kept between requests until the data changes.

A report is computed once for a query and kept with the *data version* it was computed on: the
highest id of ``declaration_events``, ``declarations``, ``risk_profile_hits`` and
``risk_profile_versions``. Events are only ever appended (a lane raised, a control, a payment, a
release: each is a new event, and the columns of ``declarations`` that change follow an event), so a
new event, declaration, hit or profile version changes the version and the next request computes
afresh. Reading the version is four index look-ups: well under a millisecond.

The cache lives in the process (each API worker has its own), holds at most ``maxsize`` reports
(least recently used dropped first) and is safe to use from several threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select

from avance.declarations.tables import declaration_events, declarations
from avance.risk.profiles.tables import risk_profile_hits, risk_profile_versions

T = TypeVar("T")


def data_version(conn: Connection) -> tuple[int, ...]:
    """What the reports were computed on: the highest ids of the tables they read."""
    row = conn.execute(
        select(
            select(func.max(declaration_events.c.id)).scalar_subquery(),
            select(func.max(declarations.c.id)).scalar_subquery(),
            select(func.max(risk_profile_hits.c.id)).scalar_subquery(),
            select(func.max(risk_profile_versions.c.id)).scalar_subquery(),
        )
    ).one()
    return tuple(int(v or 0) for v in row)


class ReportCache:
    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, tuple[tuple[int, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, conn: Connection, name: str, key: Hashable, compute: Callable[[], T]) -> T:
        """The report ``name`` for ``key`` on the database of ``conn``: kept, or computed now."""
        version = data_version(conn)
        entry_key = (conn.engine.url.render_as_string(hide_password=True), name, key)
        with self._lock:
            entry = self._entries.get(entry_key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(entry_key)
                self.hits += 1
                return entry[1]
        value = compute()
        with self._lock:
            self.misses += 1
            self._entries[entry_key] = (version, value)
            self._entries.move_to_end(entry_key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = ReportCache()
"""The process's report cache (the API, the pages and the command line share it)."""


def cached(conn: Connection, name: str, key: Hashable, compute: Callable[[], T], cache: ReportCache | None) -> T:
    """``compute()``, through ``cache`` when one is given."""
    if cache is None:
        return compute()
    return cache.get(conn, name, key, compute)
