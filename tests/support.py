"""Helpers shared by the tests, in one place (fixtures are in ``conftest.py``): a valid
Senegalese declaration and cargo report to start from, a node on a real store and its API over
real HTTP, the command line in and out of process, and the risk engine's test data."""

from __future__ import annotations

import base64
import hashlib
import json
import copy
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from hypothesis import strategies as st

from avance.auth.model import SYSTEM, Role
from avance.auth.service import create_user
from avance.auth.sessions import set_offices
from avance.bootstrap import Node, init_node
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.entrypoints.http import create_app
from avance.__main__ import main
from avance.exchange import inbox as exchange_inbox_api, keys, partners
from avance.exchange import sender as exchange_sender
from avance.exchange.envelope import build as build_envelope, now as exchange_now, sign as sign_envelope
from avance.exchange.tables import exchange_outbox
from avance.kit.settings import Settings
from avance.reference.rates import Rate
from avance.reference.service import store_rates
from avance.risk.learning.frame import frame_from_records
from avance.risk.policy import service as selection_secrets
from avance.store import node_settings
from avance.store.engine import make_engine, write

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root."""

TODAY = datetime.now(timezone.utc).date()


def bill_of(lrn: str) -> str:
    """The bill of lading of the sample declaration with LRN ``lrn``: each LRN its own consignment,
    as a consignment is declared once; the default LRN keeps GRIM0123456, the first bill of
    ``manifest()`` (and of ``notice()``)."""
    if lrn == "2026-DKR-000001":
        return "GRIM0123456"
    return f"GRIM{int.from_bytes(hashlib.sha256(lrn.encode()).digest()[:8], 'big') % 10**9:09d}"


def declaration(lrn: str = "2026-DKR-000001", declarant: str = "SN0012345A7", **overrides: Any) -> dict[str, Any]:
    """A valid import declaration for Dakar port: one used car from France, invoiced in EUR, FOB,
    on its own bill of lading (``bill_of(lrn)``)."""
    eta = datetime.combine(TODAY + timedelta(days=10), datetime.min.time(), tzinfo=timezone.utc)
    doc: dict[str, Any] = {
        "type_code": "IM",
        "procedure_code": "4000",
        "lrn": lrn,
        "declarant": {"id": declarant, "name": "Transit Diallo SARL", "country": "SN"},
        "importer": {"id": "SN0098765B2", "name": "Auto Import Dakar SA", "country": "SN"},
        "exporter": {"name": "Voitures d'Occasion Lyon", "country": "FR"},
        "office_code": "SN-DKR-PORT",
        "transport_mode_code": 1,
        "transport_means": {"identification": "9321483", "name": "GRANDE DAKAR", "nationality": "IT"},
        "estimated_arrival": eta.isoformat(),
        "transport_document_reference": bill_of(lrn),
        "incoterm": "FOB",
        "invoice_currency": "EUR",
        "invoice_amount": "12000.00",
        "freight_amount": "1000.00",
        "insurance_amount": "100.00",
        "goods_item_quantity": 1,
        "total_package_quantity": 1,
        "containers": [{"id": "CSQU3054383", "seals": ["SN123456"]}],
        "goods_items": [
            {
                "sequence": 1,
                "hs_code": "8703231000",
                "description": "Voiture de tourisme d'occasion, 1800 cm3",
                "origin_country": "FR",
                "net_mass": "1250",
                "gross_mass": "1300",
                "invoice_amount": "12000.00",
                "packages": [{"quantity": 1, "type_code": "NE"}],
                "container_ids": ["CSQU3054383"],
            }
        ],
    }
    doc.update(overrides)
    return copy.deepcopy(doc)


def manifest(reference: str = "MAN-2026-0001", carrier: str = "SN0055555C1", **overrides: Any) -> dict[str, Any]:
    """A valid cargo report of a vessel from Antwerp to Dakar with two bills of lading."""
    eta = datetime.combine(TODAY + timedelta(days=7), datetime.min.time(), tzinfo=timezone.utc)
    doc: dict[str, Any] = {
        "reference": reference,
        "carrier": {"id": carrier, "name": "Grimaldi Sénégal", "country": "SN"},
        "office_code": "SN-DKR-PORT",
        "transport_mode_code": 1,
        "voyage_number": "GD0426",
        "conveyance": {"identification": "9321483", "name": "GRANDE DAKAR", "nationality": "IT"},
        "port_of_loading": "BEANR",
        "port_of_discharge": "SNDKR",
        "estimated_arrival": eta.isoformat(),
        "bills_of_lading": [
            {
                "transport_document_reference": "GRIM0123456",
                "consignee": {"id": "SN0098765B2", "name": "Auto Import Dakar SA"},
                "description": "1 used car",
                "package_quantity": 1,
                "package_type": "NE",
                "gross_mass": "1300",
                "containers": [{"id": "CSQU3054383", "seals": ["SN123456"]}],
            },
            {
                "transport_document_reference": "GRIM0123457",
                "consignee": {"name": "Pharmacie Nationale d'Approvisionnement"},
                "description": "Medicaments",
                "package_quantity": 40,
                "package_type": "CT",
                "gross_mass": "800",
            },
        ],
    }
    doc.update(overrides)
    return copy.deepcopy(doc)


def run_cli(args: Sequence[str]) -> tuple[int, str, str]:
    """Run ``avance ARGS`` in this process, as an operator would: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["avance", *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    finally:
        sys.argv = argv
    return 0, out.getvalue(), err.getvalue()


def json_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indexes) into a JSON document."""
    paths = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths.extend(json_paths(value, prefix + (key,)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            paths.extend(json_paths(value, prefix + (i,)))
    return paths


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], values: st.SearchStrategy[Any]) -> dict[str, Any]:
    """A valid document with one to three fields replaced by one of ``values``, or removed."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = json_paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(values)
    return doc


# --- nodes and their API ---------------------------------------------------------------------


DEMO_RATES = [Rate("USD", date(2020, 1, 1), Decimal("600.00")), Rate("CNY", date(2020, 1, 1), Decimal("85.00"))]


TEST_SELECTION_SECRET = {"current": "1", "secrets": [{"id": "1", "key": base64.b64encode(b"avance test selection secret 32b").decode(), "created_at": "2026-01-01T00:00:00+00:00"}]}
"""The selection secret of the test nodes: a real node draws a fresh random one at ``avance init``;
a fixed one keeps every test's lanes the same from run to run (layout: ``avance.risk.policy.service``)."""


def make_node(url: str, tmp_path: Path, country: str = "SN") -> Node:
    engine = make_engine(url)
    init_node(engine, country)
    with engine.begin() as conn:
        store_rates(conn, DEMO_RATES)
        node_settings.put(conn, selection_secrets.SECRETS_KEY, json.dumps(TEST_SELECTION_SECRET))
    # pages tests sign administrators and analysts in with a password alone; tests/auth/test_totp.py covers the second factor
    return Node(Settings(data_dir=tmp_path, database_url=url, country=country, require_totp=False), engine)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveApi:
    """A node's API served by uvicorn on 127.0.0.1, with a token per role."""

    url: str
    node: Node
    tokens: dict[str, str]

    def client(self, who: str | None = None, lang: str | None = None) -> httpx.Client:
        headers = {}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        if lang is not None:
            headers["Accept-Language"] = lang
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def serve(node: Node) -> Iterator[LiveApi]:
    """Serve ``node``'s API with uvicorn on a free port of 127.0.0.1, with a user per role; the
    officers (two: who controls a red-lane declaration does not release it) work at every office."""
    tokens = {}
    offices = sorted(node.context.offices)
    with node.engine.begin() as conn:
        for name, role, party in [
            ("admin", Role.ADMIN, None),
            ("officer", Role.OFFICER, None),
            ("officer2", Role.OFFICER, None),
            ("analyst", Role.ANALYST, None),
            ("broker", Role.DECLARANT, "SN0012345A7"),
            ("other_broker", Role.DECLARANT, "SN0077777D3"),
            ("carrier", Role.DECLARANT, "SN0055555C1"),
        ]:
            _, tokens[name] = create_user(conn, name=name, role=role, party_id=party)
        for name in ("officer", "officer2"):
            set_offices(conn, name, offices)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", node, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve_fresh(tmp_path_factory: Any, name: str, *, exchange: bool = False) -> Iterator[LiveApi]:
    """``serve`` a fresh SQLite node of its own (a module's fixture), set up for the exchange when
    ``exchange``; its engine is disposed of afterwards."""
    tmp = tmp_path_factory.mktemp(name)
    node = make_node(f"sqlite:///{(tmp / 'avance.db').as_posix()}", tmp)
    if exchange:
        exchange_ready(node)
    try:
        yield from serve(node)
    finally:
        node.engine.dispose()


def count_rows(node: Any, table: Any) -> int:
    """How many rows ``table`` holds in ``node``'s store."""
    with node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- the command line -----------------------------------------------------------------------


def run_avance(args: list[str], tmp_path: Path, lang: str = "en", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    environment.update(AVANCE_DATA_DIR=str(tmp_path), AVANCE_LANG=lang, **env)
    return subprocess.run([sys.executable, "-m", "avance", *args], capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=300)


# --- the risk engine ------------------------------------------------------------------------

VALUATION_DAY = date(2026, 3, 2)
"""The registration date of the valuation tests' history."""


def valuation_doc(lrn: str, hs: str = "8703231000", origin: str = "JP", value: int | str = 4_000_000, mass: str = "1000", *, procedure: str = "4000", **item: object) -> GoodsDeclaration:
    """A declaration of one item invoiced CIF in XOF, so that its customs value is ``value``."""
    eta = datetime.combine(VALUATION_DAY + timedelta(days=5), datetime.min.time(), tzinfo=timezone.utc)
    d = declaration(
        lrn=lrn,
        invoice_currency="XOF",
        incoterm="CIF",
        freight_amount="0",
        insurance_amount="0",
        invoice_amount=str(value),
        estimated_arrival=eta.isoformat(),
        procedure_code=procedure,
    )
    d["goods_items"][0].update(hs_code=hs, origin_country=origin, invoice_amount=str(value), net_mass=mass, gross_mass=mass, **item)
    return GoodsDeclaration.model_validate(d)


def lodge_history(node, docs: list[GoodsDeclaration], on: date = VALUATION_DAY) -> list[int]:
    with write(node.engine) as conn:
        outcome = service.lodge_batch(conn, node.context, [(d, on) for d in docs], SYSTEM)
    assert all(i is None for i in outcome.issues), outcome.issues
    return [i for i in outcome.ids if i is not None]


def synthetic(n: int = 4000, days: int = 100, seed: int = 7, revenue: bool = False) -> pd.DataFrame:
    """Declarations where fraud depends on HS6 x origin (some pairs are risky), nothing else."""
    rng = np.random.default_rng(seed)
    hs6 = np.array([f"{c:06d}" for c in rng.choice(np.arange(100000, 999999), 30, replace=False)])
    origins = np.array(["CN", "FR", "TR", "AE", "IN", "US", "NG", "BR"])
    h = rng.integers(0, len(hs6), n)
    o = rng.integers(0, len(origins), n)
    risky = rng.random((len(hs6), len(origins))) < 0.08
    p = np.where(risky[h, o], 0.7, 0.04)
    fraud = (rng.random(n) < p).astype(float)
    mass = rng.lognormal(5, 1, n)
    frame = pd.DataFrame(
        {
            "id": [f"D{i}" for i in range(n)],
            "date": pd.Timestamp("2025-01-01") + pd.to_timedelta(np.sort(rng.integers(0, days, n)), unit="D"),
            "importer": [f"IMP{i}" for i in rng.integers(0, 800, n)],
            "declarant": [f"CAD{i}" for i in rng.integers(0, 40, n)],
            "office": rng.choice(["DKR", "ABJ", "LFW"], n),
            "hs_code": hs6[h],
            "origin": origins[o],
            "net_mass": mass,
            "value": mass * rng.lognormal(3, 0.5, n),
            "fraud": fraud,
        }
    )
    if revenue:
        frame["recovered"] = np.where(fraud > 0, frame["value"] * rng.uniform(0.05, 0.3, n), 0.0)
    return frame_from_records(frame.to_dict("records"))


# --- what brokers' systems and partners send -----------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "1e309", "NaN", "-0", "2026-13-45", "9999999999", "SN-DKR-PORT", "8703231000", "ZZ", "XOF"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def mutated_document(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid document with one to three fields replaced by arbitrary JSON, or removed."""
    return mutated(base, JSON_VALUES)


PARTNER_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
    | st.sampled_from(["", "-1", "1e9", "NaN", "2026-02-30", "XXX", "GBP", "SN", "8703231000", "99999999999999999999999"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


def mutated_message(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid notice with one to three fields replaced by whatever a partner might send, or removed."""
    return mutated(base, PARTNER_VALUES)


# --- exchange and movements --------------------------------------------------------------

PARTNERS = {"CI": "CI-AVANCE", "GH": "GH-AVANCE", "ML": "ML-AVANCE", "SN": "SN-AVANCE"}


def public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def exchange_ready(node: Any) -> str:
    """Give the node its exchange identity and register the other administrations as partners."""
    own = PARTNERS[node.context.country]
    with write(node.engine) as conn:
        keys.init(conn, node.settings.data_dir, own)
        for country, node_id in PARTNERS.items():
            if country != node.context.country:
                partners.add(conn, node_id=node_id, country=country, endpoint="http://127.0.0.1:9", public_key=public_key())
    return own


def queued(node: Any, type: str | None = None) -> list[Any]:
    """Messages in the node's outbox, in enqueue order."""
    query = select(exchange_outbox).order_by(exchange_outbox.c.id)
    if type is not None:
        query = query.where(exchange_outbox.c.type == type)
    with node.engine.connect() as conn:
        return list(conn.execute(query).mappings())


def xof_declaration(lrn: str = "2026-DKR-M0001", value: str = "10000000", **overrides: Any) -> dict[str, Any]:
    """An import declaration valued in XOF, CIF: customs value and FOB value are both ``value``."""
    doc = declaration(lrn=lrn, invoice_currency="XOF", invoice_amount=value, incoterm="CIF", freight_amount="0", insurance_amount="0")
    doc["transport_document_reference"] = "GRIM0123456"  # the bill of notice(): mirror control matches on it
    doc["goods_items"][0]["invoice_amount"] = value
    doc.update(overrides)
    return doc


def lodge_document(node: Any, doc: dict[str, Any]) -> int:
    with write(node.engine) as conn:
        return service.lodge(conn, node.context, GoodsDeclaration.model_validate(doc), SYSTEM).id


def notice(reference: str = "CI-EX-2026-000123", value: str = "10000000", currency: str = "XOF", **overrides: Any) -> dict[str, Any]:
    """An export declaration from Côte d'Ivoire matching ``xof_declaration`` (same car, same value)."""
    doc: dict[str, Any] = {
        "export_declaration_reference": reference,
        "ucr": "6CI2026ABJ000123",
        "transport_document_reference": "GRIM0123456",
        "exporter": {"id": "CI1234567X", "name": "Auto Export Abidjan SARL", "country": "CI"},
        "consignee": {"id": "SN0098765B2", "name": "Auto Import Dakar SA", "country": "SN"},
        "exporting_country": "CI",
        "destination_country": "SN",
        "office_of_exit": "CI-ABJ-PORT",
        "export_date": (TODAY - timedelta(days=3)).isoformat(),
        "items": [
            {
                "sequence": 1,
                "hs_code": "8703231000",
                "description": "Used passenger car, 1800 cm3",
                "origin_country": "FR",
                "net_mass": "1250",
                "statistical_value": {"amount": value, "currency": currency},
            }
        ],
        "totals": {"goods_item_quantity": 1, "net_mass": "1250", "statistical_value": {"amount": value, "currency": currency}},
    }
    item_overrides = overrides.pop("item", {})
    doc["items"][0].update(item_overrides)
    if "net_mass" in item_overrides:
        doc["totals"]["net_mass"] = item_overrides["net_mass"]
    doc.update(overrides)
    return doc


# --- several nodes that know each other's real keys (in process, no HTTP) ---------------------------


def wired_nodes(root: Path, countries: Sequence[str]) -> list[Node]:
    """Initialised nodes on SQLite under ``root``, each registered at the others with its real key,
    so that what one signs the others' inboxes verify."""
    made = []
    for country in countries:
        folder = root / country
        folder.mkdir(parents=True, exist_ok=True)
        n = make_node(f"sqlite:///{(folder / 'avance.db').as_posix()}", folder, country=country)
        with write(n.engine) as conn:
            keys.init(conn, folder, PARTNERS[country])
        made.append(n)
    for n in made:
        for other in made:
            if other is n:
                continue
            with other.engine.connect() as conn:
                public = keys.public_key_base64(keys.current_key(conn))
            with write(n.engine) as conn:
                partners.add(conn, node_id=PARTNERS[other.context.country], country=other.context.country, endpoint="http://127.0.0.1:9", public_key=public)
    return made


def hand_over(source: Node, target: Node, only: str | None = None, record: bool = True) -> list[dict[str, Any]]:
    """One delivery attempt from ``source`` to ``target`` without HTTP: the source signs its pending
    messages (``only`` those of that type or that message id, if given) as its sender does, the target's inbox answers,
    the source records the answers as its sender does (unless ``record`` is false: the answer was
    lost on the way). The answers' payloads, in order."""
    to = PARTNERS[target.context.country]
    with source.engine.connect() as conn:
        query = select(exchange_outbox).where(exchange_outbox.c.recipient == to, exchange_outbox.c.state == "pending").order_by(exchange_outbox.c.id)
        rows = conn.execute(query if only is None else query.where((exchange_outbox.c.type == only) | (exchange_outbox.c.message_id == only))).all()
        me = keys.node_id(conn)
        kid = keys.current_key(conn).kid
        partner_keys = {k.kid: k.public_key for k in partners.get(conn, to).keys}
    if not rows:
        return []
    at = exchange_now()
    private = keys.private_key(source.settings.data_dir, kid)
    envelopes = [
        sign_envelope(build_envelope(sender=me, recipient=to, type=r.type, payload=r.payload, message_id=r.message_id, movement=r.movement, sequence=r.sequence,
                   correlation=r.correlation, created_at=at), kid, private)
        for r in rows
    ]
    acks = exchange_inbox_api.receive(target.engine, target.settings.data_dir, target.settings.exchange_window_seconds, envelopes, target.handlers)
    problem = exchange_sender._check_acks(acks, envelopes, me, to, partner_keys)
    assert problem is None, problem
    if record:
        exchange_sender._record(source, to, at, kid, kid, None, rows, envelopes, acks)
    return [a["payload"] for a in acks]
