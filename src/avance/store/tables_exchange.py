"""Tables: exchange outbox inbox partners (scaffold: filled in by its owner). Registered in avance.store.tables."""

from __future__ import annotations

from avance.store.tables import metadata  # noqa: F401
