"""Background work of a node's exchange (scaffold: filled in by its owner)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def start(node: Any) -> Callable[[], None] | None:
    """Start the background sender for ``node``; return a function that stops it (or None)."""
    return None
