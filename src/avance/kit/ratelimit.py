"""Token buckets: how many requests a caller may make, refilled continuously.

A bucket holds at most ``per_minute`` tokens and gains ``per_minute / 60`` a second; a request
takes one. A caller that keeps within its rate is never refused; a burst of up to a minute's worth
passes at once; beyond it the request is refused with the seconds until a token is back.

The buckets live in the process (``Buckets``): with several API processes behind one address each
counts only the requests it receives, so the limit a caller meets is up to the number of processes
times the one configured (docs/deployment.md: divide the wanted limit by the processes).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class Buckets:
    """Token buckets by key (a token's digest, a source address), all of one rate.

    At most ``max_keys`` buckets are kept: when more callers come, the least recently seen go
    first (a caller forgotten starts again with a full bucket, which errs on its side)."""

    def __init__(self, per_minute: int, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("a rate limit is a positive number of requests a minute")
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0  # tokens a second
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0 when granted, else the seconds to wait for one."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.refill)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.refill
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait: float) -> str:
    """The ``Retry-After`` value (whole seconds, at least 1) of a refusal that must wait ``wait``."""
    return str(max(1, math.ceil(wait)))
