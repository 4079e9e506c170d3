"""Each bill of lading keeps a write-off balance: what its declarations cleared cannot exceed the
packages and the gross mass the carrier reported. A cargo report that arrives after its
declarations writes them off too, and an excess is kept as a discrepancy for officers."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import Conflict
from avance.manifests import service as manifests_service
from avance.manifests.model import CargoReport
from avance.store.engine import make_engine, write
from tests.support import declaration, make_node, manifest

BILL = "MSCU1234567"


def _report(packages: int = 10, mass: str = "1000", reference: str = "MAN-2026-0100") -> dict:
    doc = manifest(reference=reference)
    doc["bills_of_lading"][0].update(
        transport_document_reference=BILL, package_quantity=packages, package_type="CT", gross_mass=mass, description="Pneumatiques", containers=[]
    )
    return doc


def _part(lrn: str, packages: int, mass: str, *, cited: bool = True, hs: str = "4011100000", **overrides) -> dict:
    """A part of the bill: new tyres in cartons, declared as part of a split consignment."""
    fields = {"transport_document_reference": BILL, "split_consignment": True, "containers": [], "total_package_quantity": packages}
    if cited:
        fields["manifest_reference"] = "MAN-2026-0100"
    doc = declaration(lrn=lrn, **(fields | overrides))
    doc["goods_items"][0].update(
        hs_code=hs, description="Pneumatiques neufs", net_mass=mass, gross_mass=mass, packages=[{"quantity": packages, "type_code": "CT"}], container_ids=[]
    )
    return doc


def _lodge(node, doc):
    with write(node.engine) as conn:
        return service.lodge(conn, node.context, GoodsDeclaration.model_validate(doc), SYSTEM)


def _lodge_report(node, doc) -> int:
    with write(node.engine) as conn:
        return manifests_service.lodge(conn, node.context, CargoReport.model_validate(doc), SYSTEM)[0]


def test_declarations_write_off_the_bill_and_what_exceeds_its_balance_is_refused_with_the_figures(api):
    _lodge_report(api.node, _report(packages=10, mass="1000"))
    with api.client("broker", lang="en") as broker:
        assert broker.post("/declarations", json=_part("WO-1", 6, "600")).status_code == 201
        too_many = broker.post("/declarations", json=_part("WO-2", 5, "300"))
        assert too_many.status_code == 409, too_many.text
        problem = too_many.json()
        assert problem["code"] == "consignment.exceeds_balance"
        for figure in ("10", "6", "5", "1000", "600", "300"):
            assert figure in problem["detail"], (figure, problem["detail"])
        assert "WO-1" not in too_many.text
        too_heavy = broker.post("/declarations", json=_part("WO-3", 4, "401"))
        assert too_heavy.status_code == 409 and too_heavy.json()["code"] == "consignment.exceeds_balance"
        assert broker.post("/declarations", json=_part("WO-4", 4, "400")).status_code == 201  # exactly the balance


def test_a_rejected_declaration_gives_its_write_off_back(node):
    _lodge_report(node, _report(packages=10, mass="1000"))
    first = _lodge(node, _part("GB-1", 8, "800"))
    with pytest.raises(Conflict):
        _lodge(node, _part("GB-2", 5, "500"))
    with write(node.engine) as conn:
        service.record_rejection(conn, first.id, SYSTEM, reason="documents refused")
    assert not _lodge(node, _part("GB-2", 5, "500")).replayed


def test_a_cargo_report_after_its_declarations_writes_them_off_and_keeps_the_excess_as_a_discrepancy(api):
    node = api.node
    early = [_lodge(node, _part(f"EARLY-{n}", 4, "400", cited=False)) for n in range(3)]  # 12 packages, 1,200 kg
    with write(node.engine) as conn:
        service.record_rejection(conn, early[2].id, SYSTEM, reason="lodged twice by mistake")  # given back: 8 packages remain
    other = _lodge(node, _part("EARLY-X", 3, "300", cited=False, hs="8471300000", transport_document_reference="MSCU7777777"))
    manifest_id = _lodge_report(node, _report(packages=6, mass="1000"))  # the carrier reports 6 packages
    with api.client("officer", lang="en") as officer:
        seen = officer.get(f"/manifests/{manifest_id}").json()
        assert seen["discrepancies"] == [
            {"transport_document_reference": BILL, "packages_on_bill": 6, "packages_declared": 8, "gross_mass_on_bill": "1000", "gross_mass_declared": "800", "declarations": 2, "recorded_at": seen["discrepancies"][0]["recorded_at"]}
        ]
        listed = officer.get("/manifests/discrepancies").json()
        assert [(d["manifest_reference"], d["transport_document_reference"], sorted(d["declaration_ids"])) for d in listed["items"]] == [
            ("MAN-2026-0100", BILL, sorted([early[0].id, early[1].id]))
        ]
    assert other.id not in listed["items"][0]["declaration_ids"]
    with api.client("broker") as broker:  # the balance is spent: nothing more can be declared on the bill
        refused = broker.post("/declarations", json=_part("LATE-1", 1, "1"))
        assert refused.status_code == 409 and refused.json()["code"] == "consignment.exceeds_balance"
        assert broker.get("/manifests/discrepancies").status_code == 403


def _lodge_in_process(url: str, data_dir: str, lrns: list[str], packages: int, split: bool, start, results) -> None:
    """Runs in its own OS process: a node on the same PostgreSQL database lodges ``lrns``."""
    from avance.bootstrap import Node
    from avance.kit.settings import Settings

    node = Node(Settings(data_dir=Path(data_dir), database_url=url, country="SN"), make_engine(url))
    start.wait()
    for lrn in lrns:
        doc = _part(lrn, packages, str(packages * 100)) if split else declaration(lrn=lrn, transport_document_reference="GRIM0123456")
        try:
            _lodge(node, doc)
            results.put((lrn, "accepted"))
        except Conflict as exc:
            results.put((lrn, exc.code))
    node.engine.dispose()


def _race(url: str, tmp_path: Path, plans: list[tuple[list[str], int, bool]]) -> dict[str, str]:
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(len(plans)), spawn.Queue()
    workers = [spawn.Process(target=_lodge_in_process, args=(url, str(tmp_path), lrns, packages, split, start, results)) for lrns, packages, split in plans]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
        assert w.exitcode == 0
    outcome = {}
    while len(outcome) < sum(len(lrns) for lrns, _, _ in plans):
        lrn, result = results.get(timeout=10)
        outcome[lrn] = result
    return outcome


@pytest.mark.postgres
def test_two_processes_lodging_one_bill_at_once_write_off_exactly_its_balance_and_accept_one_duplicate(pg_url, tmp_path):
    """Two OS processes lodge on the same PostgreSQL database at the same moment: split parts of
    one bill of 10 packages (3 each, 12 tried: at most 3 parts fit), then the same consignment
    without split (only one of the two is accepted)."""
    node = make_node(pg_url, tmp_path)
    _lodge_report(node, _report(packages=10, mass="1000"))
    node.engine.dispose()
    outcome = _race(pg_url, tmp_path, [([f"A-{n}" for n in range(4)], 3, True), ([f"B-{n}" for n in range(4)], 3, True)])
    accepted = [lrn for lrn, result in outcome.items() if result == "accepted"]
    assert len(accepted) == 3 and {r for r in outcome.values()} == {"accepted", "consignment.exceeds_balance"}
    twice = _race(pg_url, tmp_path, [(["DUP-A"], 1, False), (["DUP-B"], 1, False)])
    assert sorted(twice.values()) == ["accepted", "consignment.already_declared"]
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        balance = manifests_service.balance(conn, "MAN-2026-0100", BILL)
    engine.dispose()
    assert (balance.packages_written_off, balance.gross_mass_written_off) == (9, Decimal("900"))


_examples = iter(range(10**6))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    on_bill=st.tuples(st.integers(1, 12), st.integers(1, 1200)),
    parts=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 600)), min_size=1, max_size=6),
    rejected=st.sets(st.integers(0, 5), max_size=3),
)
def test_whatever_parts_are_lodged_and_rejected_a_bill_is_never_written_off_beyond_what_it_carries(sqlite_node, on_bill, parts, rejected):
    """Parts are accepted while they fit, in lodging order; a rejection gives its part back; the
    balance is always the sum of the accepted parts still open, never more than the bill."""
    n = next(_examples)
    reference, bill = f"MAN-P{n:06d}", f"MSCU{n:07d}"
    report = _report(packages=on_bill[0], mass=str(on_bill[1]), reference=reference)
    report["bills_of_lading"][0]["transport_document_reference"] = bill
    _lodge_report(sqlite_node, report)
    accepted: dict[int, tuple[int, int]] = {}
    packages = mass = 0
    for i, (count, kg) in enumerate(parts):
        doc = _part(f"P{n:06d}-{i}", count, str(kg), transport_document_reference=bill, manifest_reference=reference)
        fits = packages + count <= on_bill[0] and mass + kg <= on_bill[1]
        try:
            lodged = _lodge(sqlite_node, doc)
        except Conflict as exc:
            assert not fits and exc.code == "consignment.exceeds_balance"
            continue
        assert fits
        accepted[i] = (lodged.id, count, kg)
        packages, mass = packages + count, mass + kg
    for i in sorted(rejected & accepted.keys()):
        declaration_id, count, kg = accepted.pop(i)
        with write(sqlite_node.engine) as conn:
            service.record_rejection(conn, declaration_id, SYSTEM, reason="test")
    with sqlite_node.engine.connect() as conn:
        balance = manifests_service.balance(conn, reference, bill)
    assert balance.packages_written_off == sum(c for _, c, _ in accepted.values()) <= on_bill[0]
    assert balance.gross_mass_written_off == sum(k for _, _, k in accepted.values()) <= on_bill[1]
