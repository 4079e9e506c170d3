"""Background work of a node's exchange: one sender thread per partner, started with the API or
alone (``avance worker``).

``start(node)`` is called by the API's lifespan (avance.entrypoints.http) and by ``avance
worker``; an API process of a node whose background work runs elsewhere (``node.background`` is
false: ``avance serve --no-worker``) starts nothing. Several processes running it on one database
are safe: each partner's messages are sent by whichever process holds that partner's lease
(``exchange.sender``), and the others wait. It watches the partner registry
(a partner added or removed from the command line is picked up within seconds), wakes a partner's
sender as soon as a transaction that queued a message for it commits, and periodically retries
held inbound messages whose handler failed. It also runs the node's periodic ``Job``s, which the
composition root gives it (``avance.bootstrap``: overdue transits every minute, and once a day the
unmatched exports past their deadline become *non retrouvée*).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, select

from avance.exchange.inbox import release_held
from avance.exchange.outbox import WAKE_KEY
from avance.exchange.sender import PartnerSender
from avance.exchange.tables import exchange_partners

log = logging.getLogger("avance.exchange")

READY_KEY = "avance.exchange.ready"
REFRESH_SECONDS = 1.0
RELEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Job:
    """Periodic work run beside the senders, at most once every ``every_seconds`` (the first run
    comes a minute after start)."""

    name: str
    every_seconds: float
    run: Callable[[Engine], None]


class Exchange:
    """The running exchange of one node."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.stop_event = threading.Event()
        self.senders: dict[str, PartnerSender] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._supervise, name="avance-exchange", daemon=True)
        self.jobs: Sequence[Job] = tuple(node.jobs)
        self.last_run: dict[str, float] = {}

    # wake-ups: a transaction that queued messages marks its connection; once committed and
    # returned to the pool, the senders of those partners are woken.
    def _on_commit(self, conn: Any) -> None:
        targets = conn.info.pop(WAKE_KEY, None)
        if targets:
            conn.info.setdefault(READY_KEY, set()).update(targets)

    def _on_rollback(self, conn: Any) -> None:
        conn.info.pop(WAKE_KEY, None)

    def _on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        if record is None:
            return
        targets = record.info.pop(READY_KEY, None)
        if targets:
            self.wake(targets)

    def wake(self, partners: set[str] | None = None) -> None:
        with self.lock:
            for node_id, sender in self.senders.items():
                if partners is None or node_id in partners:
                    sender.wake.set()

    def start(self) -> None:
        engine = self.node.engine
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "rollback", self._on_rollback)
        event.listen(engine.pool, "checkin", self._on_checkin)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake()
        self.thread.join(timeout=10)
        with self.lock:
            senders = list(self.senders.values())
        for sender in senders:
            sender.join(timeout=10)
        engine = self.node.engine
        for target, name, fn in ((engine, "commit", self._on_commit), (engine, "rollback", self._on_rollback), (engine.pool, "checkin", self._on_checkin)):
            try:
                event.remove(target, name, fn)
            except Exception:  # already removed
                pass

    def _supervise(self) -> None:
        last_release = time.monotonic()
        while not self.stop_event.is_set():
            try:
                refresh = getattr(self.node, "refresh", None)
                if callable(refresh):  # what another process of the node changed (profiles, model, rates...)
                    refresh()
                with self.node.engine.connect() as conn:
                    wanted = {r[0] for r in conn.execute(select(exchange_partners.c.node_id))}
                with self.lock:
                    for node_id in wanted - set(self.senders):
                        sender = PartnerSender(self.node, node_id, self.stop_event)
                        self.senders[node_id] = sender
                        sender.start()
                    for node_id in set(self.senders) - wanted:
                        self.senders.pop(node_id).retired.set()
                if time.monotonic() - last_release > RELEASE_SECONDS:
                    last_release = time.monotonic()
                    release_held(self.node.engine, self.node.settings.data_dir, self.node.settings.exchange_window_seconds, self.node.handlers)
                    self._run_jobs()
            except Exception as exc:  # not initialised yet, database down: try again later
                log.debug("exchange supervisor: %s", exc)
            self.stop_event.wait(REFRESH_SECONDS)


    def _run_jobs(self) -> None:
        """Deadlines nobody else watches, each job when its interval has passed."""
        for job in self.jobs:
            last = self.last_run.get(job.name)
            if last is not None and time.monotonic() - last < job.every_seconds:
                continue
            self.last_run[job.name] = time.monotonic()
            try:
                job.run(self.node.engine)
            except Exception as exc:  # database down: the next round tries again
                log.warning("exchange job %s: %s", job.name, exc)


def start(node: Any) -> Callable[[], None] | None:
    """Start the background work of ``node``; return a function that stops it, or None when the
    node's background work runs in another process (``node.background`` false)."""
    if not getattr(node, "background", True):
        return None
    exchange = Exchange(node)
    exchange.start()
    return exchange.stop
