"""Release notes (bons à enlever): a unique number given at release, per office and year, that
the gate looks up; none before release."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from avance.auth.model import Principal, Role
from avance.declarations import release_notes, service
from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import Forbidden, NotFound
from avance.store.engine import write
from tests.support import declaration

OFFICER = Principal(user_id=None, name="officer", role=Role.OFFICER, offices=("SN-DKR-PORT",))
RELEASER = Principal(user_id=None, name="officer2", role=Role.OFFICER, offices=("SN-DKR-PORT",))
BROKER = Principal(user_id=None, name="broker", role=Role.DECLARANT, party_id="SN0012345A7")


def _released(node, lrn: str) -> int:
    doc = GoodsDeclaration.model_validate(declaration(lrn=lrn, transport_document_reference=f"BL-{lrn}"))
    with write(node.engine) as conn:
        declaration_id = service.lodge(conn, node.context, doc, BROKER).id
        service.record_arrival(conn, declaration_id, OFFICER)
        life = service.record_inspection(conn, declaration_id, OFFICER, fraud_found=False, fraud_kinds=[], extra_duty=Decimal(0), findings=None)
        if life.outstanding > 0:
            service.record_payment(conn, declaration_id, OFFICER, amount=life.outstanding, receipt=f"Q-{lrn}")
        if not service.get(conn, declaration_id, OFFICER).lifecycle.reached(service.EventKind.RELEASED):
            service.record_release(conn, declaration_id, RELEASER)
    return declaration_id


def test_each_release_gets_the_next_number_of_its_office_and_year_and_the_gate_finds_it(sqlite_node):
    year = datetime.now(timezone.utc).year
    first, second = _released(sqlite_node, "RN-1"), _released(sqlite_node, "RN-2")
    with sqlite_node.engine.connect() as conn:
        notes = [release_notes.of_declaration(conn, i) for i in (first, second)]
        assert [n.number for n in notes] == [f"BAE-SN-DKR-PORT-{year}-000001", f"BAE-SN-DKR-PORT-{year}-000002"]
        found = release_notes.verify(conn, f" bae-sn-dkr-port-{year}-000002 ", OFFICER)
        assert found.declaration_id == second
        with pytest.raises(NotFound):
            release_notes.verify(conn, f"BAE-SN-DKR-PORT-{year}-000003", OFFICER)
        with pytest.raises(Forbidden):
            release_notes.verify(conn, notes[0].number, BROKER)


def test_no_note_before_release_and_a_release_keeps_its_one_note(sqlite_node):
    doc = GoodsDeclaration.model_validate(declaration(lrn="RN-3", transport_document_reference="BL-RN-3"))
    with write(sqlite_node.engine) as conn:
        declaration_id = service.lodge(conn, sqlite_node.context, doc, BROKER).id
        assert release_notes.of_declaration(conn, declaration_id) is None
    _released(sqlite_node, "RN-4")
    with write(sqlite_node.engine) as conn:
        note = release_notes.of_declaration(conn, 2)
        assert release_notes.issue(conn, 2, datetime.now(timezone.utc)) == note  # numbered once
