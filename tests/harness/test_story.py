"""`avance demo --nodes 3`: a customs user watches three real nodes (Côte d'Ivoire, Ghana, Mali)
match exports with imports, carry a transit across three countries and survive a partner's crash,
narrated step by step in their language; the nodes can then stay up for them to explore."""

from __future__ import annotations

import _thread
import io
import json
import stat
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from sqlalchemy import create_engine, func, select

from avance.kit.errors import AvanceError
from avance.harness.story import CREDENTIALS_FILE, MultiNodeResult, run_multinode_demo
from avance.kit.i18n import t
from avance.declarations.tables import declarations


def screen() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=120), buffer


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("multinode-demo")


@pytest.fixture(scope="module")
def french_run(demo_dir) -> tuple[MultiNodeResult, str]:
    """One real run, language not given: the user's default, French."""
    console, buffer = screen()
    result = run_multinode_demo(data_dir=demo_dir, console=console, keep_serving=False)
    return result, buffer.getvalue()


def stopped(url: str) -> bool:
    try:
        httpx.get(f"{url}/health", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_the_exporting_administration_learns_the_three_mirror_control_outcomes(french_run):
    result, _ = french_run
    assert result.outcomes == {"CI-EX-0001": "conforme", "CI-EX-0002": "non_conforme", "CI-EX-0003": "non_retrouvee"}
    conforming, under, missing = (result.matches[r] for r in ("CI-EX-0001", "CI-EX-0002", "CI-EX-0003"))
    assert conforming.import_lrn == "GH-IM-0001" and conforming.lane == conforming.lane_before  # a conforming match leaves the lane alone
    assert under.import_lrn == "GH-IM-0002" and under.lane == "red"  # half the exported value: the lane goes up to red
    assert under.value_gap_percent == "-50.0" and under.currency == "GHS"
    # duties and taxes on 260,000 GHS of palm oil (116,740.00) minus those declared on 130,000 (58,370.01)
    assert under.revenue_gap == Decimal("58369.99")
    assert missing.import_lrn is None and missing.revenue_gap is None


def test_a_transit_from_tema_to_bamako_is_discharged_and_its_guarantee_released(french_run):
    transit = french_run[0].transit
    assert transit is not None and transit.status == "discharged" and transit.guarantee_released_at
    assert transit.events == (
        ("registered", "GH-TEM-PORT", None),
        ("passage", "CI-NOE-ROAD", "CI-AVANCE"),
        ("arrival", "ML-BKO-ROAD", "ML-AVANCE"),
        ("discharge", "ML-BKO-ROAD", "ML-AVANCE"),
    )
    assert (transit.held_before, transit.held_after, transit.currency) == (Decimal("150000.00"), Decimal("0.00"), "GHS")


def test_while_mali_is_down_its_messages_queue_and_after_restart_arrive_once_each(french_run):
    outage = french_run[0].outage
    assert outage is not None and outage.partner == "ML-AVANCE"
    assert outage.queue_depths == tuple(range(1, len(outage.sent) + 1))  # the queue grew with every message
    assert (outage.applied, outage.lost, outage.applied_twice) == (len(outage.sent), 0, 0)


def test_the_story_is_told_in_french_by_default_and_the_nodes_are_stopped_afterwards(french_run, demo_dir):
    result, text = french_run
    assert [(n.country, n.node_id) for n in result.nodes] == [("CI", "CI-AVANCE"), ("GH", "GH-AVANCE"), ("ML", "ML-AVANCE")]
    for node in result.nodes:
        assert node.url in text and node.docs == f"{node.url}/docs" and node.docs in text
    assert "[CI → GH] déclaration d'exportation CI-EX-0001 envoyée (connaissement MSCUCG0001, 13\u00a0000\u00a0000 XOF ; signée, mise en file d'envoi)" in text
    assert "rouge — contrôle miroir : non conforme, valeur −50,0 %, écart de recettes 58\u00a0369,99 GHS" in text
    assert f"[GH] transit {result.transit.mrn} apuré : garantie GRN-GH-2026-0042 libérée" in text
    assert "[ML] 4 mises à jour sur 4 appliquées, chacune une seule fois : 0 perdue(s), 0 appliquée(s) deux fois" in text
    assert "Bilan" in text and "export declaration" not in text
    assert all(stopped(n.url) for n in result.nodes)
    assert result.credentials_path is None and not (demo_dir / CREDENTIALS_FILE).exists()


def test_in_english_the_nodes_keep_serving_with_their_tokens_until_ctrl_c(french_run, demo_dir):
    """A second run in the same folder starts afresh, narrates in English, then keeps the nodes up:
    the user reads the tokens file and calls the APIs; Ctrl-C stops everything."""
    console, buffer = screen()
    serving = t("exchange_demo.serving", "en")
    seen: dict[str, object] = {}
    done = threading.Event()

    def explore() -> None:
        deadline = time.monotonic() + 180
        while serving not in buffer.getvalue():
            if done.is_set() or time.monotonic() > deadline:
                return
            time.sleep(0.2)
        try:
            path = demo_dir / CREDENTIALS_FILE
            seen["mode"] = stat.S_IMODE(path.stat().st_mode)
            nodes = json.loads(path.read_text())["nodes"]
            seen["countries"] = [n["country"] for n in nodes]
            seen["roles"] = sorted(nodes[0]["tokens"])
            for node in nodes:
                with httpx.Client(base_url=node["api"], timeout=10) as http:
                    status = http.get("/exchange/status", headers={"Authorization": f"Bearer {node['tokens']['admin']}"})
                    declared = http.get("/declarations", headers={"Authorization": f"Bearer {node['tokens']['officer']}"})
                seen[node["country"]] = (status.status_code, status.json().get("node_id"), declared.json().get("total"))
        except Exception as exc:  # reported by the assertions below, once the demo has stopped
            seen["error"] = repr(exc)
        finally:
            _thread.interrupt_main()  # the user's Ctrl-C

    explorer = threading.Thread(target=explore, daemon=True)
    explorer.start()
    try:
        result = run_multinode_demo(data_dir=demo_dir, lang="en", console=console, keep_serving=True)
    finally:
        done.set()
        explorer.join(10)
    text = buffer.getvalue()

    assert "error" not in seen, seen
    assert seen["mode"] == 0o600 and seen["countries"] == ["CI", "GH", "ML"] and seen["roles"] == ["admin", "analyst", "broker", "officer"]
    assert seen["CI"][:2] == (200, "CI-AVANCE") and seen["ML"][:2] == (200, "ML-AVANCE")
    assert seen["GH"] == (200, "GH-AVANCE", 2)  # the two imports of this run only: the previous run's node was removed
    assert result.outcomes == {"CI-EX-0001": "conforme", "CI-EX-0002": "non_conforme", "CI-EX-0003": "non_retrouvee"}
    assert result.credentials_path == demo_dir / CREDENTIALS_FILE
    assert "[CI → GH] export declaration CI-EX-0002 sent (B/L MSCUCG0002, 13,000,000 XOF; signed, queued in the outbox)" in text
    assert "red — mirror control: not conforming (non conforme), value −50.0 %, revenue gap 58,369.99 GHS" in text
    assert f"[ML] node ML-AVANCE restarted on {result.nodes[2].url}" in text
    assert "Summary" in text and serving in text and "déclaration" not in text
    assert all(stopped(n.url) for n in result.nodes)
    with create_engine(f"sqlite:///{demo_dir / 'node-gh' / 'avance.db'}").connect() as conn:
        assert conn.execute(select(func.count()).select_from(declarations)).scalar_one() == 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nodes=st.integers(min_value=-10, max_value=1000).filter(lambda n: n != 3), lang=st.sampled_from(["fr", "en"]))
def test_any_other_number_of_nodes_is_refused_with_a_clear_message_and_nothing_started(tmp_path, nodes, lang):
    console, buffer = screen()
    folder = tmp_path / "never-created"
    with pytest.raises(AvanceError) as refused:
        run_multinode_demo(nodes=nodes, data_dir=folder, lang=lang, console=console, keep_serving=False)
    assert refused.value.code == "exchange_demo.error.nodes"
    message = refused.value.message(lang)
    assert str(nodes) in message and ("exactly 3 nodes" if lang == "en" else "exactement 3 nœuds") in message
    assert not folder.exists() and buffer.getvalue() == ""
