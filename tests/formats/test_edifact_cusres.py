"""Avance answers a broker or a carrier in CUSRES: acceptance, rejection with every error and its
pointer, tax calculation, control required, release; each a valid D.99B interchange."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from avance.formats import edifact
from avance.formats.documents import Answer, AnswerError, DutyLine
from avance.formats.edifact import structure, syntax
from avance.formats.edifact.structure import Group, groups, top
from avance.kit.errors import ValidationFailed

ISSUED = datetime(2026, 12, 6, 9, 30, 15, tzinfo=timezone.utc)


def cusres(answer: Answer) -> tuple[syntax.Message, list[syntax.Seg | Group]]:
    """The one CUSRES message of ``write_cusres(answer)``, its envelope and structure checked."""
    interchange = syntax.parse(edifact.write_cusres(answer), taken=("CUSRES",))
    [message] = interchange.messages
    tree, issues = structure.check(message)
    assert issues == []
    return message, tree


@pytest.mark.parametrize(("kind", "response"), [("accepted", "AP"), ("released", "AP"), ("control_required", "CA")])
def test_each_decision_is_named_in_bgm_with_its_response_type(kind: str, response: str) -> None:
    answer = Answer(
        kind, "2026-DKR-000001", ISSUED, identifier="SN-DKR-2026-000042", office_code="SN-DKR-PORT", lane="red" if kind == "control_required" else None
    )  # type: ignore[arg-type]
    message, tree = cusres(answer)
    [bgm] = top(tree, "BGM")
    assert (bgm.get(0, 3), bgm.get(1), bgm.get(3)) == (kind.upper(), "SN-DKR-2026-000042", response)
    assert top(tree, "DTM")[0].composite(0) == ("137", "20261206093015", "204")
    references = {g.trigger.get(0, 0): g.trigger.get(0, 1) for g in groups(tree, 3)}
    assert references == {"ACW": "2026-DKR-000001", "ABT": "SN-DKR-2026-000042"}
    assert top(tree, "LOC")[0].get(1) == "SN-DKR-PORT"
    if kind == "control_required":
        assert top(tree, "FTX")[0].composite(2) == ("red",)


def test_a_rejection_carries_every_error_with_its_pointer_and_message() -> None:
    errors = (
        AnswerError("/goods_items/0/hs_code", "declaration.hs.unknown", "La position tarifaire 8703999999 n’existe pas dans le tarif."),
        AnswerError("UNH[1] '1'/BGM (segment 2)", "declaration.lrn.duplicate", "Ce numéro de référence a déjà été déposé : « 2026-DKR-000001 »." * 3),
    )
    message, tree = cusres(Answer("rejected", "2026-DKR-000001", ISSUED, errors=errors))
    assert top(tree, "BGM")[0].get(3) == "RE"
    found = []
    for group in groups(tree, 4):
        texts = {subject: "".join(part for seg in group.segments("FTX") if seg.get(0) == subject for part in seg.composite(3)) for subject in ("AAO", "ZZZ")}
        found.append((group.trigger.get(0), group.first("ERC").get(0), texts["ZZZ"], texts["AAO"]))  # type: ignore[union-attr]
    assert found == [
        ("2", "declaration.hs.unknown", "/goods_items/0/hs_code", errors[0].message),
        ("1", "declaration.lrn.duplicate", "UNH[1] '1'/BGM (segment 2)", errors[1].message),
    ]


def test_a_tax_calculation_gives_each_duty_per_item_and_the_total() -> None:
    duties = (
        DutyLine("DD", Decimal("2436.00"), "XOF", item=1, base=Decimal("12180.00"), rate=Decimal("20")),
        DutyLine("TVA", Decimal("2630.88"), "XOF", item=1, base=Decimal("14616.00"), rate=Decimal("18")),
        DutyLine("RS", Decimal("121.80"), "XOF"),
    )
    message, tree = cusres(Answer("tax_calculation", "2026-DKR-000001", ISSUED, duties=duties, total=Decimal("5188.68"), currency="XOF"))
    header = [(g.trigger.get(0), g.trigger.get(1), [m.composite(0) for m in g.segments("MOA")]) for g in groups(tree, 5)]
    assert header == [("7", "RS", [("124", "121.80", "XOF")]), ("2", "", [("124", "5188.68", "XOF")])]
    [document] = groups(tree, 6)
    [item] = document.groups(11)
    assert item.trigger.get(0) == "1"
    lines = [(t.trigger.get(1), t.trigger.get(4, 3), [m.composite(0) for m in t.segments("MOA")]) for t in item.groups(12)]
    assert lines == [
        ("DD", "20", [("124", "2436.00", "XOF"), ("125", "12180.00", "XOF")]),
        ("TVA", "18", [("124", "2630.88", "XOF"), ("125", "14616.00", "XOF")]),
    ]


def test_an_answer_in_characters_beyond_iso_8859_1_is_written_in_utf8() -> None:
    error = AnswerError("/importer/name", "declaration.party", "Le nom « Œuvre » ne correspond pas au NIF.")
    data = edifact.write_cusres(Answer("rejected", "2026-DKR-000001", ISSUED, errors=(error,)))
    assert b"UNB+UNOW:4+" in data and "Œuvre".encode() in data
    cusres(Answer("rejected", "2026-DKR-000001", ISSUED, errors=(error,)))


def test_read_refuses_a_cusres_by_name() -> None:
    data = edifact.write_cusres(Answer("accepted", "2026-DKR-000001", ISSUED))
    assert edifact.detect(data) == "cusres"
    with pytest.raises(ValidationFailed) as caught:
        edifact.read(data)
    assert caught.value.issues[0].message("en").startswith("CUSRES is not a message Avance takes")
