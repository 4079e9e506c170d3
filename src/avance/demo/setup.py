"""``avance demo``: a node with realistic data, users and a year of history, ready to explore.

The history is replayed through the same services as live traffic: declarations are lodged at
their registration dates, and those whose goods have landed go through arrival, control (the
control finds the fraud the generator injected, most of the time), payment and release.

The demo's node lives where a plain ``avance`` command looks for a node: ``DATA_DIR/avance.db``
(``Settings.resolved_database_url``), so that after ``make demo`` the commands of the README
(``avance users list``, ``avance import declarations ...``) work from the same folder. It is
marked as a demo in its node settings; a rebuild replaces a demo, never another node.

In Senegal, the busiest broker of the demo trade is *Transit Diallo SARL* (``SN0012345A7``), the
broker of the examples in ``examples/`` and of the README: the demo declarant is that broker, sees
a year of its own declarations and can lodge the examples.
"""

from __future__ import annotations

import dataclasses
import json
import random
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError

from avance.auth.model import SYSTEM, Principal, Role
from avance.auth.service import create_user
from avance.auth.sessions import enrol_totp, offices_of, set_offices, set_password
from avance.auth.totp import sealer
from avance.auth.tables import users
from avance.bootstrap import Node, init_node, store_rates
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.demo.generator import DemoConfig, DemoGenerator, GeneratedDeclaration, demo_rates, load_catalog
from avance.demo.history import labelled_history
from avance.kit.cli import sqlite_file
from avance.kit.errors import AvanceError, ConfigurationError
from avance.kit.i18n import t
from avance.kit.settings import Settings
from avance.revenue.profiles import load_profile
from avance.risk.learning.frame import frame_from_records
from avance.risk.learning.model import FitOptions, fit
from avance.risk.learning.registry import install
from avance.risk.valuation.model import build_from_rows
from avance.risk.valuation.service import save_snapshot
from avance.store import node_settings
from avance.store.engine import make_engine, write

# How often a control finds the fraud that is there, by lane (documentary checks miss more).
DETECTION = {"red": 0.9, "yellow": 0.6}

DEMO_MARK = "demo"
"""Node setting of a demo's node (its seed): a rebuild replaces only a database that has it."""

EXAMPLE_BROKERS = {"SN": {"id": "SN0012345A7", "name": "Transit Diallo SARL"}}
"""Per country, the broker of the examples in ``examples/``: the demo's busiest broker takes its
name and identification, and the demo declarant acts for it."""


@dataclass
class DemoResult:
    node: Node
    lodged: int
    seconds: float
    credentials_path: Path


def demo_database(data_dir: Path) -> Path:
    """The demo's database: where ``avance`` commands find a node with ``AVANCE_DATA_DIR=data_dir``."""
    database = sqlite_file(Settings(data_dir=data_dir, database_url=None).resolved_database_url())
    assert database is not None, "a node's default database is a SQLite file in its data directory"
    return database


def _replaceable(database: Path) -> bool:
    """Whether ``database`` may be rebuilt: an earlier demo's, or one that holds nothing."""
    engine = make_engine(f"sqlite:///{database.as_posix()}")
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            if node_settings.node_settings.name not in tables:
                return not tables
            return node_settings.read_country(conn) is None or node_settings.get(conn, DEMO_MARK) is not None
    except SQLAlchemyError:  # not a SQLite database: someone else's file
        return False
    finally:
        engine.dispose()


def _fresh_database(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    database = demo_database(data_dir)
    if database.exists() and not _replaceable(database):
        raise ConfigurationError("demo.not_a_demo", path=database)
    for suffix in ("", "-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    return database


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=console is None,
    )


def _users(node: Node, declarant: str, data_dir: Path, api_url: str) -> Path:
    """The demo's users, each with a token for programs and a password for the pages; the two
    officers work at every office of the node's country (one records a red-lane control, the other
    releases: segregation of duties); the administrator and the analyst have a second factor,
    whose secret is in the credentials file (``totp_secret``) for an authenticator or a test."""
    offices = [o["code"] for o in load_catalog()["offices"] if o["country"] == node.context.country]
    accounts = [
        ("demo-admin", Role.ADMIN, None, [], True),
        ("demo-officer", Role.OFFICER, None, offices, False),
        ("demo-officer-2", Role.OFFICER, None, offices, False),
        ("demo-analyst", Role.ANALYST, None, [], True),
        ("demo-declarant", Role.DECLARANT, declarant, [], False),
    ]
    users = []
    with write(node.engine) as conn:
        for name, role, party, attached, second_factor in accounts:
            _, token = create_user(conn, name=name, role=role, party_id=party, days=node.settings.token_days)
            password = secrets.token_urlsafe(12)
            set_password(conn, name, password)
            if attached:
                set_offices(conn, name, attached)
            user = {"name": name, "role": role.value, "party_id": party, "offices": attached, "token": token, "password": password}
            if second_factor:
                user["totp_secret"], user["totp_uri"] = enrol_totp(conn, name, issuer=f"Avance {node.context.country}", sealer=sealer(node.settings.data_dir))
            users.append(user)
    path = data_dir / "demo-credentials.json"
    path.write_text(json.dumps({"api": api_url, "pages": api_url + "/", "docs": api_url + "/docs", "users": users}, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return path


def _officers(node: Node) -> tuple[Principal, Principal]:
    """The demo's two officers as the replayed history acts: the first records, the second
    releases what the first controlled on the red lane."""
    found = []
    with node.engine.connect() as conn:
        for name in ("demo-officer", "demo-officer-2"):
            user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar_one()
            found.append(Principal(user_id=user_id, name=name, role=Role.OFFICER, offices=offices_of(conn, user_id)))
    return found[0], found[1]


def _lodging_time(rng: random.Random, day: date) -> datetime:
    return datetime.combine(day, dtime(7, 30), tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(0, 10 * 60))


def _replay(
    node: Node, officer: Principal, declaration_id: int, generated: GeneratedDeclaration, lodged: datetime, now: datetime, rng: random.Random, releaser: Principal
) -> None:
    """Arrival, control, payment and release as they would have happened, up to now, in the
    order and at times the lifecycle accepts: a supplement found at control is paid (sometimes
    in a second payment) before release; nothing is paid when nothing is due. ``releaser``, not
    the officer who controlled them, releases controlled goods (segregation of duties)."""
    d = generated.payload
    eta = datetime.fromisoformat(d["estimated_arrival"])
    arrived = eta + timedelta(hours=rng.randrange(0, 48))
    with write(node.engine) as conn:
        record = service.get(conn, declaration_id, SYSTEM)
        lane = record.row["lane"]
        duty_total = record.row["duty_total"]
        paid = False
        paid_at = lodged + timedelta(hours=rng.randrange(2, 72))
        if lane in ("green", "blue") and rng.random() < 0.85 and paid_at < min(arrived, now):  # most pay before the ship docks
            if duty_total > 0:  # nothing to pay: nothing recorded
                service.record_payment(conn, declaration_id, officer, amount=duty_total, receipt=f"Q{declaration_id:08d}", now=paid_at)
            paid = True
        if arrived >= now:
            return
        service.record_arrival(conn, declaration_id, officer, arrived_at=arrived, now=arrived)
        if lane in ("red", "yellow"):
            inspected = arrived + timedelta(hours=rng.randrange(4, 96))
            if inspected >= now:
                return
            truth = generated.truth
            found = truth.fraud and rng.random() < DETECTION[lane]
            extra = truth.hidden_duty if found else Decimal(0)
            service.record_inspection(
                conn,
                declaration_id,
                officer,
                fraud_found=found,
                fraud_kinds=[truth.kind] if found and truth.kind else [],
                extra_duty=extra,
                findings=None,
                now=inspected,
            )
            paid_at = inspected + timedelta(hours=rng.randrange(2, 72))
            if paid_at >= now:
                return
            if extra > 0 and duty_total > 0 and declaration_id % 3 == 0:
                # the duties assessed at lodging first; the supplement found at control a day later
                service.record_payment(conn, declaration_id, officer, amount=duty_total, receipt=f"Q{declaration_id:08d}", now=paid_at)
                paid_at += timedelta(hours=24)
                if paid_at >= now:
                    return
                service.record_payment(conn, declaration_id, officer, amount=extra, receipt=f"Q{declaration_id:08d}-2", now=paid_at)
            elif duty_total + extra > 0:
                service.record_payment(conn, declaration_id, officer, amount=duty_total + extra, receipt=f"Q{declaration_id:08d}", now=paid_at)
            released = paid_at + timedelta(hours=rng.randrange(1, 24))
            if released < now:
                service.record_release(conn, declaration_id, releaser, now=released)
        elif not paid and rng.random() < 0.9:
            paid_at = arrived + timedelta(hours=rng.randrange(1, 96))
            if paid_at < now and duty_total > 0:
                service.record_payment(conn, declaration_id, officer, amount=duty_total, receipt=f"Q{declaration_id:08d}", now=paid_at)


def build_demo(
    *,
    data_dir: Path,
    country: str = "SN",
    count: int = 3000,
    seed: int = 20260601,
    lang: str = "fr",
    console: Console | None = None,
    api_url: str = "http://127.0.0.1:8000",
    now: datetime | None = None,
    history: int | None = None,
) -> DemoResult:
    """Create the node of ``data_dir`` (``data_dir/avance.db``) afresh and fill it; return the ready node.

    A database already there is replaced only when an earlier demo built it (or it holds
    nothing); another node's is refused with ``demo.not_a_demo``.

    Before lodging, the learned engine is trained on ``history`` labelled declarations of the
    year before (default: four times ``count``, at least 8,000; 0 runs without a model), and the
    valuation references are built from their honest items.
    """
    started = time.perf_counter()
    if history is None:
        history = max(4 * count, 8000) if count else 0
    now = now or datetime.now(timezone.utc)
    _fresh_database(data_dir)
    settings = Settings(data_dir=data_dir, database_url=None, country=country, lang=lang)
    engine = make_engine(settings.resolved_database_url())
    init_node(engine, country)
    with write(engine) as conn:
        node_settings.put(conn, DEMO_MARK, str(seed))
        store_rates(conn, demo_rates(load_profile(country).currency))
    node = Node(settings, engine)

    config = DemoConfig(country=country, seed=seed, start=now.date() - timedelta(days=365), days=365)
    generator = DemoGenerator(config)
    if console is not None:
        console.print(t("demo.generating", lang, count=count, country=country), markup=False)
    declarations = list(generator.generate(count))
    brokers = generator.traders().declarants
    busiest = max(brokers, key=lambda b: (sum(1 for g in declarations if g.payload["declarant"]["id"] == b.id), b.size))
    broker = EXAMPLE_BROKERS.get(country, {"id": busiest.id, "name": busiest.name})
    declarations = [_as_broker(g, busiest.id, broker) for g in declarations]
    if history:
        _train(node, config, history, lang, console, lambda g: _as_broker(g, busiest.id, broker))
    credentials = _users(node, broker["id"], data_dir, api_url)
    officer, releaser = _officers(node)

    rng = random.Random(seed)
    truth_path = data_dir / "demo-ground-truth.jsonl"
    lodged = 0
    with _progress(console) as progress, truth_path.open("w", encoding="utf-8") as truth_file:
        task = progress.add_task(t("demo.lodging", lang), total=len(declarations))
        ordered = sorted(declarations, key=lambda g: g.registration_date)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            parsed = [(GoodsDeclaration.model_validate(g.payload), g.registration_date) for g in chunk]
            times = [_lodging_time(rng, g.registration_date) for g in chunk]
            with write(node.engine) as conn:
                outcome = service.lodge_batch(conn, node.context, parsed, SYSTEM, lodged_at=times)
            for g, declaration_id, at in zip(chunk, outcome.ids, times):
                if declaration_id is None:
                    continue
                lodged += 1
                truth_file.write(json.dumps(_truth_record(declaration_id, g)) + "\n")
                try:
                    _replay(node, officer, declaration_id, g, at, now, rng, releaser)
                except AvanceError:
                    pass  # a replayed step the rules refuse is simply not part of the history
            progress.update(task, advance=len(chunk))
    return DemoResult(node=node, lodged=lodged, seconds=time.perf_counter() - started, credentials_path=credentials)


def _as_broker(generated: GeneratedDeclaration, broker_id: str, broker: dict[str, str]) -> GeneratedDeclaration:
    """``generated``, lodged by ``broker`` (name and id) when the generator gave it to ``broker_id``."""
    declarant = generated.payload["declarant"]
    if declarant["id"] != broker_id or declarant["id"] == broker["id"]:
        return generated
    payload = generated.payload | {"declarant": declarant | broker}
    return dataclasses.replace(generated, payload=payload)


def _train(
    node: Node,
    config: DemoConfig,
    count: int,
    lang: str,
    console: Console | None,
    relabel: Callable[[GeneratedDeclaration], GeneratedDeclaration],
) -> None:
    """Fit the learned model on a labelled history and build the valuation references from it,
    as an administration does from its own history; the node then runs with both. ``relabel``
    gives the history the brokers' names the lodged declarations have."""
    before = dataclasses.replace(config, start=config.start - timedelta(days=config.days))
    if console is not None:
        console.print(t("demo.training", lang, count=count), markup=False)
    history = labelled_history(node.context, (relabel(g) for g in DemoGenerator(before).generate(count)))
    model = fit(frame_from_records(history.rows), FitOptions(mapping="demo"))
    install(model, node.settings.resolved_models_dir())
    with write(node.engine) as conn:
        save_snapshot(conn, build_from_rows(history.values, currency=node.context.currency))
    node.reload()


def _truth_record(declaration_id: int, g: GeneratedDeclaration) -> dict[str, Any]:
    truth = g.truth
    return {
        "id": declaration_id,
        "lrn": g.payload["lrn"],
        "declarant_id": g.payload["declarant"]["id"],
        "registration_date": g.registration_date.isoformat(),
        "fraud": truth.fraud,
        "kind": truth.kind,
        "hidden_duty": str(truth.hidden_duty),
    }
