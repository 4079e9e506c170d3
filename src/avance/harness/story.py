"""``avance demo --nodes 3``: three real nodes on this machine, and a story told step by step.

Côte d'Ivoire, Ghana and Mali each get their own ``avance serve`` process, SQLite database and
port on 127.0.0.1, all partners of each other (``avance.harness.nodes.Cluster``). Then, only
through the nodes' HTTP APIs and the ``avance`` commands an operator would run, the demo shows:

1. export → import matching: three Ivorian exports to Ghana, matched *conforme*, *non conforme*
   (value and revenue gaps, lane raised to red) and *non retrouvée* (the deadline sweep);
2. a transit Tema (GH) → Noé (CI) → Bamako (ML): passage, arrival, discharge, and the guarantee
   released at Tema;
3. an outage: Mali's node is killed, Ghana keeps sending to it, the queue grows; Mali restarts, the
   queue drains, and every message is applied exactly once.

Each step is one line in the user's language (catalog keys ``exchange_demo.*``). The nodes can
then keep running for the user to explore their APIs, until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.text import Text

from avance.kit.errors import AvanceError
from avance.harness.nodes import Cluster, CommandRunner, HarnessError, NodeProc
from avance.kit.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from avance.kit.money import round_money

COUNTRIES = ("CI", "GH", "ML")
"""Côte d'Ivoire exports and is en route; Ghana imports and is the office of departure; Mali is the destination."""
CREDENTIALS_FILE = "multinode-credentials.json"
DEADLINE_DAYS = 30
"""Days after the export date before an unmatched export notice is *non retrouvée* (the node default)."""
GHANA_RATES = "currency,rate,valid_from\nXOF,0.02,2020-01-01\n"
"""1 XOF = 0.02 GHS: an Ivorian export of 10,000,000 XOF is worth 200,000 GHS in Ghana."""
OUTAGE_MESSAGES = 4
WAIT_SECONDS = 60.0


class DemoFailed(AvanceError):
    """A step of the multi-node demo did not go as it should (the nodes are stopped)."""

    status = 500
    code = "exchange_demo.error.failed"


# --- what the demo saw -------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSeen:
    country: str
    node_id: str
    url: str
    docs: str


@dataclass(frozen=True)
class MatchSeen:
    """One Ivorian export as the exporting node finally sees it (its match result from Ghana)."""

    export_reference: str
    outcome: str
    import_lrn: str | None = None
    lane: str | None = None
    """The import declaration's lane now."""
    lane_before: str | None = None
    """Its lane before the mirror control raised it (the same when it was not raised)."""
    value_gap_percent: str | None = None
    revenue_gap: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class TransitSeen:
    mrn: str
    status: str
    events: tuple[tuple[str, str, str | None], ...]
    """(kind, office code, reporting node) as the departure node records them."""
    currency: str
    held_before: Decimal
    held_after: Decimal
    guarantee_released_at: str | None


@dataclass(frozen=True)
class OutageSeen:
    partner: str
    sent: tuple[str, ...]
    """Message ids queued while the partner was down."""
    queue_depths: tuple[int, ...]
    """Queue depth toward the partner after each message was queued."""
    drained_seconds: float
    applied: int
    lost: int
    applied_twice: int
    redeliveries: int


@dataclass
class MultiNodeResult:
    nodes: list[NodeSeen] = field(default_factory=list)
    matches: dict[str, MatchSeen] = field(default_factory=dict)
    transit: TransitSeen | None = None
    outage: OutageSeen | None = None
    credentials_path: Path | None = None
    seconds: float = 0.0

    @property
    def outcomes(self) -> dict[str, str]:
        """Export reference → mirror-control outcome, as the exporting node received it."""
        return {reference: m.outcome for reference, m in self.matches.items()}


# --- the cluster ---------------------------------------------------------------------------------


class _DemoCluster(Cluster):
    """The harness's cluster, with Ghana's exchange rates loaded before its node starts, as an
    administration loads them before opening (mirror control converts Ivorian CFA-franc values)."""

    def prepare(self, node: NodeProc, runner: CommandRunner) -> None:
        if node.country == "GH":
            rates = node.data_dir / "gh-rates.csv"
            rates.write_text(GHANA_RATES, encoding="utf-8")
            runner.run([["rates", "load", str(rates)]])


def _fresh(data_dir: Path) -> None:
    """Remove what a previous multi-node demo left in ``data_dir`` (only its own files)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for country in COUNTRIES:
        folder = data_dir / f"node-{country.lower()}"
        if folder.exists():
            shutil.rmtree(folder)
    (data_dir / CREDENTIALS_FILE).unlink(missing_ok=True)


def _write_credentials(data_dir: Path, cluster: Cluster) -> Path:
    path = data_dir / CREDENTIALS_FILE
    document = {
        "nodes": [
            {"country": n.country, "node_id": n.node_id, "api": n.url, "docs": f"{n.url}/docs", "tokens": dict(n.tokens)}
            for n in cluster.nodes
        ]
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(document, indent=2))
    path.chmod(0o600)
    return path


# --- telling it ----------------------------------------------------------------------------------


class _Narrator:
    def __init__(self, console: Console, lang: str, delay: float) -> None:
        self.console, self.lang, self.delay = console, lang, delay

    def t(self, key: str, **params: Any) -> str:
        return t(key, self.lang, **params)

    def say(self, tag: str, key: str, **params: Any) -> None:
        self.console.print(Text.assemble((f"[{tag}]", "bold cyan"), " ", self.t(key, **params)), soft_wrap=True)
        if self.delay > 0:
            time.sleep(self.delay)

    def line(self, key: str, **params: Any) -> None:
        self.console.print(self.t(key, **params), markup=False, highlight=False, soft_wrap=True)

    def part(self, key: str) -> None:
        self.console.print()
        self.console.print(Text(self.t(key), style="bold"), soft_wrap=True)


def _number(value: Any, lang: str) -> str:
    """A decimal with grouped thousands: 45,740.00 (en), 45 740,00 (fr)."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = format(amount, ",").replace("-", "−")
    if lang == "fr":
        text = text.replace(",", "\u00a0").replace(".", ",")
    return text


def _seconds(value: float, lang: str) -> str:
    return _number(f"{value:.1f}", lang)


def _money(value: Any, currency: str, lang: str) -> str:
    return f"{_number(round_money(Decimal(str(value)), currency), lang)} {currency}"


def _arrow(sender: NodeProc, *recipients: NodeProc) -> str:
    return f"{sender.country} → {', '.join(r.country for r in recipients)}"


def _call(node: NodeProc, who: str, lang: str, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
    with node.client(who, lang=lang) as http:
        response = http.request(method, path, **kwargs)
    if response.status_code not in expect:
        try:
            detail = response.json().get("detail") or response.text
        except (ValueError, AttributeError):
            detail = response.text
        raise DemoFailed(reason=f"{node.country} {method} {path} → {response.status_code}: {' '.join(str(detail).split())[:300]}")
    return response.json()


def _queue_depths(cluster: Cluster) -> dict[str, dict[str, int]]:
    """Per running node, the queue depth toward each partner (GET /exchange/status as admin)."""
    depths = {}
    for node in cluster.nodes:
        if node.alive():
            report = _call(node, "admin", "en", "GET", "/exchange/status")
            depths[node.node_id] = {p["node_id"]: int(p["queue_depth"]) for p in report["partners"]}
    return depths


def _wait_drained(cluster: Cluster, timeout: float = WAIT_SECONDS) -> float:
    """Until every running node's queues are empty, as their /exchange/status reports; seconds taken."""
    started = time.monotonic()
    while True:
        depths = _queue_depths(cluster)
        if not any(any(d.values()) for d in depths.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            waiting = {node: {p: n for p, n in d.items() if n} for node, d in depths.items() if any(d.values())}
            raise DemoFailed(reason=f"queues not drained after {timeout:.0f} s: {waiting}")
        time.sleep(0.1)


def _ghana_import(lrn: str, tdr: str, value: str, net_mass: str) -> dict[str, Any]:
    """Refined palm oil from Abidjan imported at Tema in drums, invoiced CIF in cedi, lodged
    before the ship arrives (no ECOWAS preference claimed: full duties)."""
    eta = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=10), datetime.min.time(), tzinfo=timezone.utc)
    drums = int(Decimal(net_mass) / 250)
    return {
        "type_code": "IM",
        "procedure_code": "4000",
        "lrn": lrn,
        "declarant": {"id": "GH0012345A7", "name": "Tema Clearing Agency", "country": "GH"},
        "importer": {"id": "GH0098765B2", "name": "Accra Foods Ltd", "country": "GH"},
        "exporter": {"name": "Huilerie d'Abidjan SA", "country": "CI"},
        "office_code": "GH-TEM-PORT",
        "transport_mode_code": 1,
        "transport_means": {"identification": "9321483", "name": "GRANDE ABIDJAN", "nationality": "IT"},
        "estimated_arrival": eta.isoformat(),
        "transport_document_reference": tdr,
        "incoterm": "CIF",
        "invoice_currency": "GHS",
        "invoice_amount": value,
        "freight_amount": "0",
        "insurance_amount": "0",
        "goods_item_quantity": 1,
        "total_package_quantity": drums,
        "containers": [{"id": "CSQU3054383", "seals": ["GH123456"]}],
        "goods_items": [
            {
                "sequence": 1,
                "hs_code": "1511900000",
                "description": "Refined palm oil, in 250 kg drums",
                "origin_country": "CI",
                "net_mass": net_mass,
                "gross_mass": str(Decimal(net_mass) + drums * 20),
                "invoice_amount": value,
                "packages": [{"quantity": drums, "type_code": "DR"}],
                "container_ids": ["CSQU3054383"],
            }
        ],
    }


def _ivorian_export(reference: str, tdr: str, value: str, net_mass: str, exported: date) -> dict[str, Any]:
    statistical = {"amount": value, "currency": "XOF"}
    return {
        "export_declaration_reference": reference,
        "transport_document_reference": tdr,
        "exporter": {"id": "CI1234567X", "name": "Huilerie d'Abidjan SA", "country": "CI"},
        "consignee": {"id": "GH0098765B2", "name": "Accra Foods Ltd", "country": "GH"},
        "exporting_country": "CI",
        "destination_country": "GH",
        "office_of_exit": "CI-ABJ-PORT",
        "export_date": exported.isoformat(),
        "items": [
            {
                "sequence": 1,
                "hs_code": "1511900000",
                "description": "Huile de palme raffinée, en fûts de 250 kg",
                "origin_country": "CI",
                "net_mass": net_mass,
                "statistical_value": statistical,
            }
        ],
        "totals": {"goods_item_quantity": 1, "net_mass": net_mass, "statistical_value": statistical},
    }


# --- 1. mirror control ---------------------------------------------------------------------------


def _matching(cluster: Cluster, say: _Narrator, result: MultiNodeResult) -> None:
    ci, gh = cluster.node("CI"), cluster.node("GH")
    lang = say.lang
    say.part("exchange_demo.part.matching")
    exported = datetime.now(timezone.utc).date() - timedelta(days=2)
    shipments = [  # export reference, bill of lading, net mass (kg), exported value (XOF), import LRN, declared value (GHS)
        ("CI-EX-0001", "MSCUCG0001", "20000", "13000000", "GH-IM-0001", "260000.00"),
        ("CI-EX-0002", "MSCUCG0002", "20000", "13000000", "GH-IM-0002", "130000.00"),  # declared at half its value
        ("CI-EX-0003", "MSCUCG0003", "10000", "6500000", None, None),  # never imported
    ]
    lodged: dict[str, tuple[int, str]] = {}  # export reference -> (declaration id, LRN)

    # the first shipment's import is lodged at Tema before the Ivorian export notice arrives
    reference, tdr, mass, _, lrn, value = shipments[0]
    assert lrn is not None and value is not None
    lodged[reference] = (_lodge(gh, lrn, tdr, value, mass), lrn)
    lane, _ = _lanes(gh, lodged[reference][0])
    say.say("GH", "exchange_demo.import_lodged", lrn=lrn, tdr=tdr, value=_money(value, "GHS", lang), lane=t(f"lane.{lane}", lang))

    for reference, tdr, mass, value, _, _ in shipments:
        _call(ci, "officer", lang, "POST", "/matching/export-notices", expect=(201,), json=_ivorian_export(reference, tdr, value, mass, exported))
        say.say(_arrow(ci, gh), "exchange_demo.notice_sent", reference=reference, tdr=tdr, value=_money(value, "XOF", lang))
    seconds = _wait_drained(cluster)
    say.say(_arrow(ci, gh), "exchange_demo.delivered", seconds=_seconds(seconds, lang))

    reference, *_ = shipments[0]
    declaration_id, lrn = lodged[reference]
    view = _call(gh, "officer", lang, "GET", f"/matching/declarations/{declaration_id}")
    say.say("GH", "exchange_demo.matched", lrn=lrn, reference=reference, outcome=view["outcome_label"] or "—")

    # the second shipment's import is lodged after its notice arrived, at half the exported value:
    # it is matched as it is lodged, and the mirror control raises its lane
    reference, tdr, mass, _, lrn, value = shipments[1]
    assert lrn is not None and value is not None
    lodged[reference] = (_lodge(gh, lrn, tdr, value, mass), lrn)
    lane, before = _lanes(gh, lodged[reference][0])
    view = _call(gh, "officer", lang, "GET", f"/matching/declarations/{lodged[reference][0]}")
    match = (view.get("matches") or [{}])[0]
    say.say(
        "GH",
        "exchange_demo.import_raised" if before != lane else "exchange_demo.import_mismatch",
        lrn=lrn,
        tdr=tdr,
        value=_money(value, "GHS", lang),
        lane=t(f"lane.{lane}", lang),
        previous=t(f"lane.{before}", lang),
        outcome=view["outcome_label"] or "—",
        percent=_number(match.get("value_gap_percent") or "0", lang),
        revenue=_money(match.get("revenue_gap") or "0", match.get("currency") or "GHS", lang),
    )

    # nothing comes for the third shipment: the deadline sweep, run as on the day after the deadline
    as_of = exported + timedelta(days=DEADLINE_DAYS + 1)
    swept = gh.cli("matching", "sweep", "--days", str(DEADLINE_DAYS), "--as-of", as_of.isoformat())
    if swept.returncode != 0:
        raise DemoFailed(reason=f"GH avance matching sweep: {' '.join((swept.stderr or swept.stdout).split())[:300]}")
    for notice in _call(gh, "officer", lang, "GET", "/matching/results", params={"direction": "received", "outcome": "non_retrouvee"})["items"]:
        say.say("GH", "exchange_demo.sweep", days=DEADLINE_DAYS, date=as_of.isoformat(), reference=notice["export_reference"], outcome=notice["outcome_label"])
    _wait_drained(cluster)

    # what the exporting administration now knows
    sent = {n["export_reference"]: n for n in _call(ci, "analyst", lang, "GET", "/matching/results", params={"direction": "sent"})["items"]}
    for reference, *_ in shipments:
        notice = sent.get(reference)
        if notice is None:
            raise DemoFailed(reason=f"CI does not list the export notice {reference}")
        detail = _call(ci, "analyst", lang, "GET", f"/matching/results/{notice['id']}")
        gap = detail.get("revenue_gap")
        if gap not in (None, "") and Decimal(str(gap)) != 0:
            say.say(_arrow(gh, ci), "exchange_demo.result_gap", reference=reference, outcome=detail["outcome_label"], revenue=_money(gap, detail["currency"], lang))
        else:
            say.say(_arrow(gh, ci), "exchange_demo.result", reference=reference, outcome=detail["outcome_label"])
        declaration_id, lrn = lodged.get(reference, (None, None))  # type: ignore[arg-type]
        lane, before = _lanes(gh, declaration_id) if declaration_id is not None else (None, None)
        result.matches[reference] = MatchSeen(
            export_reference=reference,
            outcome=detail["outcome"],
            import_lrn=lrn,
            lane=lane,
            lane_before=before,
            value_gap_percent=detail.get("value_gap_percent"),
            revenue_gap=Decimal(str(gap)) if gap not in (None, "") else None,
            currency=detail.get("currency"),
        )


def _lanes(gh: NodeProc, declaration_id: int) -> tuple[str, str]:
    """An import declaration's lane now, and the lane it had before the mirror control raised it
    (from its ``lane_assigned`` events; the same lane when the mirror control did not raise it)."""
    declaration = _call(gh, "officer", "en", "GET", f"/declarations/{declaration_id}")
    assigned = [e for e in declaration["events"] if e["kind"] == "lane_assigned" and e.get("actor") != "mirror-control"]
    before = assigned[-1]["data"].get("lane") if assigned else None
    return declaration["lane"], before or declaration["lane"]


def _lodge(gh: NodeProc, lrn: str, tdr: str, value: str, net_mass: str) -> int:
    return int(_call(gh, "broker", "en", "POST", "/declarations", expect=(201,), json=_ghana_import(lrn, tdr, value, net_mass))["id"])


# --- 2. transit ----------------------------------------------------------------------------------


def _held(node: NodeProc, principal: str, currency: str) -> Decimal:
    items = _call(node, "analyst", "en", "GET", "/transits/guarantees", params={"principal": principal})["items"]
    return round_money(sum((Decimal(i["held"]) for i in items if i["currency"] == currency), Decimal(0)), currency)


def _transit(cluster: Cluster, say: _Narrator, result: MultiNodeResult) -> None:
    gh, ci, ml = cluster.node("GH"), cluster.node("CI"), cluster.node("ML")
    lang = say.lang
    say.part("exchange_demo.part.transit")
    principal, guarantee, amount, currency = "GH0012345T1", "GRN-GH-2026-0042", "150000.00", "GHS"
    registration = {
        "lrn": "GH-TR-DEMO-0001",
        "departure_office": "GH-TEM-PORT",
        "itinerary": ["CI-NOE-ROAD"],
        "destination_office": "ML-BKO-ROAD",
        "principal": {"id": principal, "name": "Sahel Transit Ltd", "country": "GH"},
        "guarantee": {"reference": guarantee, "amount": {"amount": amount, "currency": currency}},
        "transport_means": {"mode_code": 3, "identification": "GT-4521-26", "nationality": "GH"},
        "seals": ["GHS778812"],
        "items": [{"sequence": 1, "hs_code": "100630", "description": "Milled rice, 25 kg bags", "origin_country": "TH", "gross_mass": "30150"}],
        "time_limit": (datetime.now(timezone.utc) + timedelta(days=5)).isoformat(),
    }
    mrn = _call(gh, "officer", lang, "POST", "/transits", expect=(201,), json=registration)["mrn"]
    before = _held(gh, principal, currency)
    say.say("GH", "exchange_demo.transit_registered", mrn=mrn, office="Tema (GH-TEM-PORT)", guarantee=guarantee, held=_money(before, currency, lang))
    say.say(_arrow(gh, ci, ml), "exchange_demo.transit_sent", mrn=mrn)
    _wait_drained(cluster)
    for node in (ci, ml):
        view = _call(node, "officer", lang, "GET", f"/transits/{mrn}")
        say.say(node.country, "exchange_demo.transit_known", mrn=mrn, role=view["role_label"], status=view["status_label"])

    passed = _call(ci, "officer", lang, "POST", f"/transits/{mrn}/passage", json={"office_code": "CI-NOE-ROAD"})
    say.say(_arrow(ci, gh, ml), "exchange_demo.passage", office="Noé (CI-NOE-ROAD)", status=passed["status_label"])
    _wait_drained(cluster)
    arrived = _call(ml, "officer", lang, "POST", f"/transits/{mrn}/arrival", json={"seals_intact": True})
    say.say(_arrow(ml, gh), "exchange_demo.arrival", office="Bamako (ML-BKO-ROAD)", status=arrived["status_label"])
    _wait_drained(cluster)
    discharged = _call(ml, "officer", lang, "POST", f"/transits/{mrn}/discharge", json={"remarks": "Scellés intacts"})
    say.say(_arrow(ml, gh), "exchange_demo.discharge", office="Bamako (ML-BKO-ROAD)", status=discharged["status_label"])
    _wait_drained(cluster)

    movement = _call(gh, "analyst", lang, "GET", f"/transits/{mrn}")
    after = _held(gh, principal, currency)
    say.say(
        "GH",
        "exchange_demo.released" if movement["guarantee_released_at"] else "exchange_demo.not_released",
        mrn=mrn,
        status=movement["status_label"],
        guarantee=guarantee,
        before=_money(before, currency, lang),
        after=_money(after, currency, lang),
    )
    say.say("GH", "exchange_demo.events", events=(" ; " if lang == "fr" else "; ").join(f"{e['label']} {e['office_code']}" + (f" ({e['source_node']})" if e["source_node"] else "") for e in movement["events"]))
    result.transit = TransitSeen(
        mrn=mrn,
        status=movement["status"],
        events=tuple((e["kind"], e["office_code"], e["source_node"]) for e in movement["events"]),
        currency=currency,
        held_before=before,
        held_after=after,
        guarantee_released_at=movement["guarantee_released_at"],
    )


# --- 3. outage -----------------------------------------------------------------------------------


def _link(node: NodeProc, partner: NodeProc) -> dict[str, Any]:
    report = _call(node, "admin", "en", "GET", "/exchange/status")
    return next(p for p in report["partners"] if p["node_id"] == partner.node_id)


def _outage(cluster: Cluster, say: _Narrator, result: MultiNodeResult) -> None:
    gh, ml = cluster.node("GH"), cluster.node("ML")
    lang = say.lang
    say.part("exchange_demo.part.outage")
    ml.kill()
    say.say("ML", "exchange_demo.killed", node=ml.node_id, url=ml.url)

    sent: dict[str, str] = {}  # message id -> office code
    depths = []
    for number in range(1, OUTAGE_MESSAGES + 1):
        code = f"GH-DEMO-{number:02d}"
        body = {"dataset": "offices", "to": [ml.node_id], "records": [{"code": code, "name": f"Demo border post {number}", "country": "GH", "kind": "road"}]}
        message_id = _call(gh, "admin", lang, "POST", "/exchange/reference-data", expect=(202,), json=body)["message_ids"][ml.node_id]
        sent[message_id] = code
        depths.append(int(_link(gh, ml)["queue_depth"]))
        say.say(_arrow(gh, ml), "exchange_demo.outage_sent", number=number, total=OUTAGE_MESSAGES, code=code, node=ml.node_id, depth=depths[-1])

    deadline = time.monotonic() + 10  # let the sender try, and fail, at least once
    link = _link(gh, ml)
    while not link["last_error"] and time.monotonic() < deadline:
        time.sleep(0.2)
        link = _link(gh, ml)
    error = " ".join(str(link["last_error"] or "—").split())
    say.say(
        "GH",
        "exchange_demo.outage_link",
        node=ml.node_id,
        depth=link["queue_depth"],
        seconds=_seconds(float(link["oldest_pending_seconds"] or 0), lang),
        error=error[:120],
    )

    try:
        ml.restart()
    except HarnessError as exc:
        raise DemoFailed(reason=str(exc)) from None
    say.say("ML", "exchange_demo.restarted", node=ml.node_id, url=ml.url)
    started = time.monotonic()
    while int(_link(gh, ml)["queue_depth"]) > 0:
        if time.monotonic() - started > WAIT_SECONDS:
            raise DemoFailed(reason=f"the queue toward {ml.node_id} did not drain within {WAIT_SECONDS:.0f} s")
        time.sleep(0.1)
    drained = time.monotonic() - started
    say.say(_arrow(gh, ml), "exchange_demo.drained", node=ml.node_id, seconds=_seconds(drained, lang), depth=max(depths))

    records = _call(ml, "admin", lang, "GET", "/exchange/reference-data", params={"partner": gh.node_id, "dataset": "offices"})
    ours = [r for r in records if r["code"] in set(sent.values())]
    applied = {r["message_id"] for r in ours} & set(sent)
    twice = sum(int(r["revision"]) - 1 for r in ours)
    redeliveries = int(_link(ml, gh)["inbound"]["duplicates"])
    lost = len(sent) - len({r["code"] for r in ours})
    say.say("ML", "exchange_demo.outage_checked", applied=len(applied), sent=len(sent), lost=lost, twice=twice, duplicates=redeliveries)
    result.outage = OutageSeen(
        partner=ml.node_id,
        sent=tuple(sent),
        queue_depths=tuple(depths),
        drained_seconds=drained,
        applied=len(applied),
        lost=lost,
        applied_twice=twice,
        redeliveries=redeliveries,
    )


# --- the whole demo ------------------------------------------------------------------------------


def _show_nodes(cluster: Cluster, say: _Narrator, result: MultiNodeResult) -> None:
    """One line per node (never cut, so that the URLs can be copied)."""
    for node in cluster.nodes:
        seen = NodeSeen(node.country, node.node_id, node.url, f"{node.url}/docs")
        result.nodes.append(seen)
        say.line("exchange_demo.node", country=node.country, name=say.t(f"exchange_demo.country.{node.country}"), node=seen.node_id, url=seen.url, docs=seen.docs)


def _summary(say: _Narrator, result: MultiNodeResult) -> None:
    say.part("exchange_demo.part.summary")
    lang = say.lang
    say.line("exchange_demo.summary.matching", outcomes=", ".join(f"{ref} {t(f'matching.outcome.{m.outcome}', lang)}" for ref, m in result.matches.items()))
    if result.transit is not None:
        tr = result.transit
        key = "exchange_demo.summary.transit" if tr.guarantee_released_at else "exchange_demo.summary.transit_held"
        say.line(key, mrn=tr.mrn, status=t(f"transit.status.{tr.status}", lang), before=_money(tr.held_before, tr.currency, lang), after=_money(tr.held_after, tr.currency, lang))
    if result.outage is not None:
        o = result.outage
        say.line("exchange_demo.summary.outage", node=o.partner, sent=len(o.sent), applied=o.applied, lost=o.lost, twice=o.applied_twice)


def _serve_until_interrupted(cluster: Cluster, say: _Narrator) -> None:
    try:
        say.line("exchange_demo.serving")
        while True:
            dead = next((n for n in cluster.nodes if not n.alive()), None)
            if dead is not None:
                say.line("exchange_demo.node_died", node=dead.node_id, log=str(dead.log_path))
                return
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def run_multinode_demo(
    *,
    nodes: int = 3,
    data_dir: Path,
    lang: str = DEFAULT_LANGUAGE,
    console: Console,
    keep_serving: bool,
    narrate_delay: float = 0.0,
    first_port: int | None = None,
) -> MultiNodeResult:
    """Start three partner nodes in ``data_dir`` (a previous run's nodes there are removed first),
    tell the story step by step on ``console`` in ``lang``, print a summary; with ``keep_serving``,
    write ``data_dir/multinode-credentials.json`` (mode 0600) and keep the nodes running until
    Ctrl-C. The nodes are always stopped before this returns or raises. They listen on
    ``first_port`` and the two ports after it (free ports when None).

    Raises ``AvanceError`` (``exchange_demo.error.*``) when ``nodes`` is not 3, when ``data_dir``
    cannot be prepared, or when a node or a step fails; Ctrl-C during the story stops the nodes and
    raises KeyboardInterrupt.
    """
    if nodes != 3:
        raise AvanceError("exchange_demo.error.nodes", nodes=nodes)
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    data_dir = Path(data_dir).resolve()  # the nodes run with their own folder as working directory
    say = _Narrator(console, lang, narrate_delay)
    try:
        _fresh(data_dir)
    except OSError as exc:
        raise AvanceError("exchange_demo.error.data_dir", path=str(data_dir), reason=exc.strerror or str(exc)) from None
    result = MultiNodeResult()
    started = time.monotonic()
    say.line("exchange_demo.starting", path=str(data_dir))
    try:
        with _DemoCluster(data_dir, countries=COUNTRIES, first_port=first_port) as cluster:
            say.line("exchange_demo.started", seconds=_seconds(time.monotonic() - started, lang))
            _show_nodes(cluster, say, result)
            story = time.monotonic()
            _matching(cluster, say, result)
            _transit(cluster, say, result)
            _outage(cluster, say, result)
            result.seconds = time.monotonic() - story
            _summary(say, result)
            say.line("exchange_demo.summary.seconds", seconds=_seconds(result.seconds, lang))
            if keep_serving:
                result.credentials_path = _write_credentials(data_dir, cluster)
                say.line("exchange_demo.credentials", path=str(result.credentials_path))
                _serve_until_interrupted(cluster, say)
            say.line("exchange_demo.stopping")
    except AvanceError:
        raise
    except (HarnessError, httpx.HTTPError, OSError, TimeoutError) as exc:
        raise DemoFailed(reason=" ".join(str(exc).split())[:300] or type(exc).__name__) from None
    say.line("exchange_demo.stopped", path=str(data_dir))
    return result
