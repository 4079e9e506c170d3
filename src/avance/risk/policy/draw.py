"""The random selection draw: one number in [0, 1) per declaration, keyed with a secret of the node.

A draw anyone can compute is a draw a declarant can shop for: with ``sha256(declarant, LRN)`` a
broker tries LRNs offline until one escapes the random floor. The draw is therefore an HMAC
(SHA-256) keyed with a secret that only the node holds (``node_settings``, created at ``avance
init`` or on upgrade, rotated by ``avance selection rotate-secret``; see
``avance.risk.policy.service``). For a given secret and declaration it is deterministic, so a
retry gets the same lane and an auditor holding the secret can recompute every recorded draw.

Pure: no I/O. Both assessors (the selection policy and the rule assessor) get a ``Draw`` when they
are built; nothing here is global.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

SEPARATOR = "\x1f"
"""Joins the parts of what is drawn for (e.g. declarant and LRN), as the candidates' keys do."""


@dataclass(frozen=True, slots=True)
class Draw:
    """Draws with one secret of the node; ``secret_id`` names it in the records (the secret never)."""

    secret_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.secret_id:
            raise ValueError("a draw needs the id of its secret")
        if len(self.key) < 16:
            raise ValueError("a draw secret has at least 16 bytes")

    def uniform(self, *parts: str) -> float:
        """A number in [0, 1) from ``parts`` (joined with the unit separator): 53 random bits."""
        digest = hmac.new(self.key, SEPARATOR.join(parts).encode(), hashlib.sha256).digest()
        return (int.from_bytes(digest[:8], "big") >> 11) / 2**53

    def __str__(self) -> str:
        return f"draw with secret {self.secret_id}"
