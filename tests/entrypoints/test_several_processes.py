"""Several processes on one database behave as one node: what an analyst changes through one
process is used by every other within two seconds, the lane quotas are the node's, and the
background work runs where it is asked to (``avance worker``), not in the API processes.

The first tests hold two ``Node`` objects on two engines (what two processes hold) on SQLite and
PostgreSQL; the last one runs two ``avance serve --no-worker`` processes and an ``avance worker``
on one PostgreSQL database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from avance.auth.model import SYSTEM, Role
from avance.auth.service import create_user
from avance.bootstrap import CHECK_SECONDS, Node
from avance.declarations import service as declarations
from avance.declarations.model import GoodsDeclaration
from avance.declarations.tables import declarations as declaration_rows
from avance.exchange import keys, outbox, partners
from avance.exchange.tables import exchange_partners
from avance.reference.rates import Rate
from avance.reference.service import store_rates
from avance.risk.policy import service as selection
from avance.risk.policy.tables import lane_quotas
from avance.risk.profiles.service import put_profile
from avance.risk.valuation.model import Override
from avance.risk.valuation.service import set_override
from avance.store.engine import make_engine, write
from tests.conftest import scratch_database
from tests.support import declaration, free_port, make_node, public_key

WATCH = {"description": {"fr": "Importateur sous surveillance", "en": "Importer under watch"}, "when": {"importer": ["SN0098765B2"]}, "lane": "red"}
"""A profile sending the test declaration's importer to the red lane (it is yellow without it)."""


@pytest.fixture
def twins(node: Node) -> Iterator[tuple[Node, Node]]:
    """The node, and what a second process of it holds: its own engine and memory, one database."""
    other = Node(node.settings, make_engine(node.settings.resolved_database_url()))
    yield node, other
    other.engine.dispose()


def lodge(node: Node, lrn: str) -> str:
    with write(node.engine) as conn:
        lodging = declarations.lodge(conn, node.context, GoodsDeclaration.model_validate(declaration(lrn=lrn)), SYSTEM)
        return conn.execute(select(declaration_rows.c.lane).where(declaration_rows.c.id == lodging.id)).scalar_one()


def test_a_profile_saved_through_one_process_assesses_the_next_lodging_of_another(twins):
    a, b = twins
    assert lodge(b, "2026-DKR-G00001") == "yellow"
    with write(a.engine) as conn:
        put_profile(conn, {"id": "P-WATCH", **WATCH}, SYSTEM)
    assert lodge(b, "2026-DKR-G00002") == "yellow"  # b checked less than a second ago: not yet
    time.sleep(CHECK_SECONDS + 0.05)
    assert lodge(b, "2026-DKR-G00003") == "red"
    assert b.refresh(force=True) == frozenset()  # reloaded once, nothing more to do


def test_each_kind_of_change_is_reloaded_by_the_other_processes_and_only_what_changed(twins):
    a, b = twins
    assessor = b.context.assessor
    with write(a.engine) as conn:
        set_override(conn, Override("870323", origin="JP", minimum=Decimal("4000"), author="analyst"))
    valuation = assessor.valuation
    assert b.refresh(force=True) == {"valuation"}
    assert b.context.assessor is assessor and assessor.valuation is not valuation

    with write(a.engine) as conn:
        store_rates(conn, [Rate("GBP", date(2026, 1, 1), Decimal("760"))])
    assert b.refresh(force=True) == {"rates"}
    assert b.context.rates.rate("GBP", date(2026, 6, 1)) == Decimal("760")

    with write(a.engine) as conn:
        selection.rotate_secret(conn)
    assert b.refresh(force=True) == {"policy"}
    assert b.context.assessor.selector.draw.secret_id == "2"

    a.reload()  # POST /risk/engine/reload: a new model or policy file, for every process
    assert {"model", "policy"} <= b.refresh(force=True)
    assert a.refresh(force=True) == frozenset()  # the process that made a change does not reload it again


def test_a_process_whose_database_does_not_answer_keeps_its_context(twins):
    a, b = twins
    context = b.context
    original = b.engine
    b.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    try:
        assert b.refresh(force=True) == frozenset()
        assert b.context is context
    finally:
        b.engine = original


def test_lodgings_through_two_processes_count_on_one_quota_row_per_office_and_period(twins):
    a, b = twins
    lanes = [lodge(node, f"2026-DKR-Q{i:05d}") for i, node in enumerate([a, b, a, b, b])]
    with a.engine.connect() as conn:
        rows = conn.execute(select(lane_quotas)).all()
    (row,) = rows
    assert (row.lodged, row.red, row.yellow, row.blue) == (5, lanes.count("red"), lanes.count("yellow"), lanes.count("blue"))
    shared = a.context.assessor.selector.counters()
    assert shared == b.context.assessor.selector.counters()
    assert shared[0].lodged == 5


# ----------------------------------------------------------------- real processes on PostgreSQL


class _Partner(BaseHTTPRequestHandler):
    """A partner that receives and answers 503 (the sender retries later): it records the tries."""

    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (the http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append(self.path)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _wait_health(url: str, process: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process ended: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@pytest.mark.postgres
def test_two_api_processes_and_a_worker_on_one_postgresql_database_behave_as_one_node(pg_server: str, tmp_path: Path):
    partner = ThreadingHTTPServer(("127.0.0.1", 0), _Partner)
    _Partner.received = []
    threading.Thread(target=partner.serve_forever, daemon=True).start()
    processes: list[subprocess.Popen[str]] = []
    with scratch_database(pg_server) as url:
        node = make_node(url, tmp_path)
        with write(node.engine) as conn:
            _, analyst = create_user(conn, name="analyst", role=Role.ANALYST)
            _, broker = create_user(conn, name="broker", role=Role.DECLARANT, party_id="SN0012345A7")
            keys.init(conn, node.settings.data_dir, "SN-AVANCE")
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
            env.update(AVANCE_DATABASE_URL=url, AVANCE_DATA_DIR=str(tmp_path), AVANCE_COUNTRY="SN", AVANCE_LANG="en")
            ports = [free_port(), free_port()]
            for port in ports:
                command = [sys.executable, "-m", "avance", "serve", "--no-worker", "--port", str(port)]
                processes.append(subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            worker = subprocess.Popen([sys.executable, "-m", "avance", "worker"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            processes.append(worker)
            first, second = (f"http://127.0.0.1:{port}" for port in ports)
            deadline = time.monotonic() + 40
            for address, process in zip((first, second), processes):
                _wait_health(address, process, deadline)

            # a profile saved through the first process assesses a lodging through the second within 2 s
            with httpx.Client(base_url=second, headers={"Authorization": f"Bearer {broker}"}, timeout=30) as b:
                assert b.post("/declarations", json=declaration(lrn="2026-DKR-P00001")).json()["lane"] == "yellow"
                with httpx.Client(base_url=first, headers={"Authorization": f"Bearer {analyst}"}, timeout=30) as a:
                    assert a.put("/risk/profiles/P-WATCH", json=WATCH).status_code == 201
                saved = time.monotonic()
                time.sleep(2.0)
                assert time.monotonic() - saved < 2.5
                assert b.post("/declarations", json=declaration(lrn="2026-DKR-P00002")).json()["lane"] == "red"

            # the quota counters are the node's: both processes count on one row
            with httpx.Client(base_url=first, headers={"Authorization": f"Bearer {broker}"}, timeout=30) as a:
                assert a.post("/declarations", json=declaration(lrn="2026-DKR-P00003")).status_code == 201
            with node.engine.connect() as conn:
                (row,) = conn.execute(select(lane_quotas)).all()
            assert (row.lodged, row.red, row.yellow) == (3, 2, 1)
            with httpx.Client(base_url=second, headers={"Authorization": f"Bearer {analyst}"}, timeout=30) as b:
                quotas = b.get("/risk/engine").json()["quotas"]
            assert [(q["lodged"], q["red"], q["yellow"]) for q in quotas] == [(3, 2, 1)]

            # the worker delivers to a partner; the API processes do not
            with write(node.engine) as conn:
                partners.add(conn, node_id="CI-AVANCE", country="CI", endpoint=f"http://127.0.0.1:{partner.server_port}", public_key=public_key())
                outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload={"dataset": "offices", "action": "upsert", "records": [{"code": "SN-DKR-PORT", "name": "Dakar Port", "country": "SN", "kind": "port"}]})
            deadline = time.monotonic() + 15
            while not _Partner.received and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _Partner.received, "the worker did not deliver"
            with node.engine.connect() as conn:
                owner = conn.execute(select(exchange_partners.c.lease_owner).where(exchange_partners.c.node_id == "CI-AVANCE")).scalar_one()
            assert owner.startswith(f"{socket.gethostname()}:{worker.pid}:")
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
            partner.shutdown()
            node.engine.dispose()
    assert worker.returncode == 0, worker.stderr.read() if worker.stderr else ""


@pytest.mark.postgres
def test_two_worker_processes_starting_together_never_both_hold_a_partners_lease(pg_url: str, tmp_path: Path):
    from datetime import datetime, timezone

    from avance.exchange import sender

    node = make_node(pg_url, tmp_path)
    with write(node.engine) as conn:
        partners.add(conn, node_id="CI-AVANCE", country="CI", endpoint="http://127.0.0.1:9", public_key=public_key())
    engines = [make_engine(pg_url) for _ in range(2)]  # two worker processes' connections
    try:
        for _ in range(20):
            with write(node.engine) as conn:
                conn.execute(exchange_partners.update().values(lease_owner=None, lease_until=None))
            barrier, held = threading.Barrier(2), []

            def take(i: int, barrier: threading.Barrier = barrier, held: list[bool] = held) -> None:
                barrier.wait()
                held.append(sender.acquire_lease(engines[i], "CI-AVANCE", f"host-{i}:{i}:1", datetime.now(timezone.utc)))

            threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert held.count(True) == 1
    finally:
        for engine in engines:
            engine.dispose()
        node.engine.dispose()
