"""The valuation reference database as an analyst relies on it: what a line's goods usually cost,
learnt from the declarations lodged, the value-control file, and the flags with the revenue at risk."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.declarations.processing import MemoryLookups, process
from avance.kit.errors import NotFound, ValidationFailed
from avance.risk.valuation.check import check_declaration, check_item
from avance.risk.valuation.model import HS4, HS6, HS6_ORIGIN, OVERRIDE, Override, ValuationIndex, ValueRow, build_from_rows, measure
from avance.risk.valuation.overrides_file import CSV_COLUMNS, override_from_fields, overrides_csv, parse_overrides_csv
from avance.risk.valuation.service import import_overrides, list_overrides, load_index, rebuild, remove_override, set_override, snapshot_info
from avance.declarations.assessment import AssessmentInput, ItemFacts
from avance.store.engine import write
from avance.risk.valuation.tables import valuation_overrides, valuation_references
from tests.support import VALUATION_DAY as ON
from tests.support import declaration, lodge_history
from tests.support import valuation_doc as doc




def subject_of(ctx, d: GoodsDeclaration, on: date = ON) -> tuple[AssessmentInput, object]:
    """What an assessor receives at lodging, computed by the lodging's own code."""
    p = process(ctx, d, on, MemoryLookups())
    items = tuple(ItemFacts(r.customs_value, r.duties.total if r.duties_due else Decimal(0)) for r in p.items)
    return AssessmentInput(d, ctx.country, ctx.currency, on, items, p.duty_total, p.customs_value), p


def rows(hs: str, origin: str, unit_values: list[float], unit: str = "KGM", quantity: float = 10.0, when: date = ON) -> list[ValueRow]:
    return [ValueRow(hs, origin, unit, quantity, uv * quantity, when) for uv in unit_values]


# --- statistics -------------------------------------------------------------------------------


def test_median_mad_and_percentiles_are_computed_on_log_unit_values():
    """Unit values 100, 200, 400, 800, 1600 XOF/kg: equally spaced in log space (step ln 2)."""
    index = build_from_rows(rows("870323", "JP", [1600, 100, 800, 200, 400]), min_count=5)
    s = index.stats(HS6_ORIGIN, "870323", "JP", "KGM")
    assert s is not None and s.n == 5
    assert s.median == Decimal("400")
    # |log x - log 400| = 2, 1, 0, 1, 2 steps of ln 2: median 1 step, scaled by 1.4826.
    assert s.mad_log == pytest.approx(1.4826 * math.log(2))
    # 10th percentile, linear interpolation: 0.4 of the way from 100 to 200 in log space.
    assert s.q10 == Decimal(f"{100 * 2 ** 0.4:.6g}")
    assert s.q25 == Decimal("200") and s.q75 == Decimal("800")
    assert s.q90 == Decimal(f"{800 * 2 ** 0.6:.6g}")


def test_statistics_agree_with_a_plain_computation_on_irregular_data():
    unit_values = [1250.0, 4800.0, 5100.0, 4650.0, 5900.0, 4300.0, 15000.0, 4990.0, 5230.0, 4410.0, 4800.0]
    s = build_from_rows(rows("100630", "TH", unit_values)).stats(HS6_ORIGIN, "100630", "TH", "KGM")
    logs = sorted(math.log(x) for x in unit_values)
    median = statistics.median(logs)
    mad = statistics.median(abs(x - median) for x in logs) * 1.4826
    assert s.median == Decimal(f"{math.exp(median):.6g}")
    assert s.mad_log == pytest.approx(mad)
    assert s.q90 == Decimal(f"{math.exp(statistics.quantiles(logs, n=10, method='inclusive')[-1]):.6g}")


def test_the_robust_lower_bound_is_k_mads_below_the_median_floored_at_the_10th_percentile():
    # Tight data with one very low outlier: exp(median - 3 MAD) is below q10, so q10 is the threshold.
    data = [1000.0 + 10 * i for i in range(20)] + [50.0]
    s = build_from_rows(rows("852872", "CN", data)).stats(HS6_ORIGIN, "852872", "CN", "KGM")
    centre = math.log(float(s.median))
    robust = Decimal(f"{math.exp(centre - 3 * s.mad_log):.6g}")
    assert s.bounds(3.0, floor_q10=False)[0] == robust
    assert s.bounds(3.0, floor_q10=True)[0] == max(robust, s.q10) == s.q10
    wider = s.bounds(6.0, floor_q10=False)[0]
    assert wider < robust  # k is the width of the band


def test_sparse_lines_fall_back_to_hs6_then_hs4():
    history = (
        rows("870323", "JP", [5000.0] * 12)  # HS6 x JP: 12 items
        + rows("870323", "FR", [7000.0] * 3)  # HS6 x FR: 3 items, HS6 all origins: 15
        + rows("870322", "DE", [3000.0] * 4)  # HS6 870322: 4 items only; HS4 8703: 19
        + rows("870421", "CN", [2000.0] * 3)  # HS4 8704: 3 items: too few anywhere
    )
    index = build_from_rows(history, min_count=10)
    assert index.reference("8703231000", "JP", "KGM", ON).level == HS6_ORIGIN
    from_fr = index.reference("8703231000", "FR", "KGM", ON)
    assert (from_fr.level, from_fr.n, from_fr.origin) == (HS6, 15, None)
    from_de = index.reference("8703220000", "DE", "KGM", ON)
    assert (from_de.level, from_de.hs, from_de.n) == (HS4, "8703", 19)
    sparse = index.reference("870421", "CN", "KGM", ON)
    assert sparse.n == 3 and not sparse.sufficient  # shown, never used to flag
    assert index.reference("870323", "JP", "NAR", ON) is None  # another unit is another line
    assert index.usable_counts() == {HS6_ORIGIN: 1, HS6: 1, HS4: 1}


def test_items_without_a_usable_quantity_or_value_are_skipped_never_a_crash():
    history = rows("100630", "TH", [300.0] * 10) + [
        ValueRow("100630", "TH", "KGM", 0, 1000, ON),
        ValueRow("100630", "TH", "KGM", None, 1000, ON),
        ValueRow("100630", "TH", "KGM", "-5", 1000, ON),
        ValueRow("100630", "TH", "KGM", float("nan"), 1000, ON),
        ValueRow("100630", "TH", "KGM", "beaucoup", 1000, ON),
        ValueRow("100630", "TH", "KGM", 10, 0, ON),
        ValueRow("100630", "TH", "KGM", 10, float("inf"), ON),
    ]
    index = build_from_rows(history)
    assert index.stats(HS6_ORIGIN, "100630", "TH", "KGM").n == 10
    assert index.info.items_skipped == 7 and index.info.items_used == 10


@settings(max_examples=60, deadline=None)
@given(history=st.lists(st.tuples(st.sampled_from(["870323", "8703", "100630", "1006300000", "", "ab12cd"]), st.sampled_from(["JP", "", "FR"]),
                          st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6), st.text(max_size=4), st.just(10**400)),
                          st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**12)),
                          st.one_of(st.none(), st.dates(), st.text(max_size=10), st.just("2026-03-01")))),
       since=st.one_of(st.none(), st.dates()))
def test_any_history_builds_references_with_finite_positive_values(history, since):
    index = build_from_rows([ValueRow(hs, origin, "KGM", q, value, when) for hs, origin, q, value, when in history], min_count=1, since=since)
    for s in index.statistics():
        assert 0 < s.q10 <= s.q25 <= s.median <= s.q75 <= s.q90
        assert math.isfinite(s.mad_log) and s.mad_log >= 0


def test_the_unit_is_the_supplementary_unit_when_declared_else_the_net_mass():
    assert measure(Decimal("1250"), Decimal("2"), "NAR") == (Decimal("2"), "NAR")
    assert measure(Decimal("1250"), Decimal("0"), "NAR") == (Decimal("1250"), "KGM")
    assert measure(Decimal("1250"), Decimal("2"), None) == (Decimal("1250"), "KGM")
    assert measure(Decimal("0"), None, None) is None


def test_history_outside_the_window_is_left_out():
    history = rows("100630", "TH", [300.0] * 10, when=date(2025, 6, 1)) + rows("100630", "TH", [900.0] * 10, when=date(2026, 2, 1))
    index = build_from_rows(history, since=date(2026, 1, 1))
    assert index.stats(HS6_ORIGIN, "100630", "TH", "KGM").median == Decimal("900")
    index = build_from_rows(history, until=date(2025, 12, 31))
    assert index.stats(HS6_ORIGIN, "100630", "TH", "KGM").median == Decimal("300")


def test_bad_build_settings_are_refused():
    with pytest.raises(ValidationFailed) as caught:
        build_from_rows([], min_count=0, k=float("nan"))
    assert {i.code for i in caught.value.issues} == {"valuation.min_count", "valuation.k"}


# --- from the store ---------------------------------------------------------------------------


def test_references_come_from_lodged_declarations_without_fraud_found_or_rejected_ones(node):
    honest = [doc(f"H{i}", value=4_000_000 + 100_000 * i) for i in range(12)]  # 4,000 to 5,100 XOF/kg
    cheats = [doc(f"F{i}", value=300_000) for i in range(3)]
    checked_fine = [doc("C1", value=4_550_000)]
    rejected = [doc("R1", value=99_000_000)]
    ids = lodge_history(node, honest + cheats + checked_fine + rejected)
    with write(node.engine) as conn:
        for declaration_id in ids[12:16]:
            service.record_arrival(conn, declaration_id, SYSTEM)
        for declaration_id in ids[12:15]:
            service.record_inspection(conn, declaration_id, SYSTEM, fraud_found=True, fraud_kinds=["undervaluation"], extra_duty=Decimal(1000), findings=None)
        service.record_inspection(conn, ids[15], SYSTEM, fraud_found=False, fraud_kinds=[], extra_duty=Decimal(0), findings=None)
        service.record_rejection(conn, ids[16], SYSTEM, reason="faux documents")
        index = rebuild(conn)
    s = index.stats(HS6_ORIGIN, "870323", "JP", "KGM")
    assert s.n == 13  # 12 honest + the one inspected without fraud
    unit_values = sorted([4000 + 100 * i for i in range(12)] + [4550])
    assert s.median == Decimal(f"{math.exp(statistics.median(math.log(x) for x in unit_values)):.6g}")
    assert index.info.declarations_excluded == 4
    assert index.currency == "XOF"
    with node.engine.connect() as conn:
        loaded = load_index(conn)
    assert loaded.stats(HS6_ORIGIN, "870323", "JP", "KGM") == s
    assert loaded.counts() == index.counts() == {HS6_ORIGIN: 1, HS6: 1, HS4: 1}


def test_supplementary_units_from_the_lodged_document_make_their_own_line(node):
    phones = [doc(f"P{i}", hs="851713", origin="CN", value=1_500_000, mass="20", supplementary_quantity="10", supplementary_unit="NAR") for i in range(10)]
    lodge_history(node, phones + [doc("Z1", hs="851713", origin="CN", value=0, mass="1")])  # no value to compare: skipped
    with write(node.engine) as conn:
        index = rebuild(conn)
    assert index.stats(HS6_ORIGIN, "851713", "CN", "NAR").median == Decimal("150000")  # per phone
    assert index.stats(HS6_ORIGIN, "851713", "CN", "KGM") is None
    assert index.info.items_skipped == 1


def test_a_rebuild_replaces_the_whole_snapshot_and_records_its_window(node):
    lodge_history(node, [doc(f"H{i}", value=4_000_000) for i in range(10)])
    with write(node.engine) as conn:
        rebuild(conn)
        rebuild(conn, since=date(2026, 1, 1), until=date(2026, 12, 31), min_count=5)
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(valuation_references)).scalar_one() == 3
        info = snapshot_info(conn)
    assert (info["window_from"], info["window_to"], info["min_count"]) == ("2026-01-01", "2026-12-31", 5)
    with write(node.engine) as conn, pytest.raises(ValidationFailed):
        rebuild(conn, since=date(2026, 2, 1), until=date(2026, 1, 1))


# --- overrides --------------------------------------------------------------------------------


def override(hs: str, **fields: object) -> Override:
    found, issues = override_from_fields({"hs": hs, **{k: str(x) for k, x in fields.items()}}, author="awa")
    assert found is not None, issues
    return found


def test_an_override_in_force_wins_over_the_statistics_and_respects_its_dates():
    stats = build_from_rows(rows("870323", "JP", [5000.0] * 12)).statistics()
    index = ValuationIndex(stats, [override("8703", min="6000", valid_from="2026-03-01", valid_to="2026-03-31")])
    inside = index.reference("8703231000", "JP", "KGM", date(2026, 3, 15))
    assert (inside.level, inside.low, inside.median) == (OVERRIDE, Decimal("6000"), Decimal("6000"))  # the median is raised to the minimum
    assert inside.basis.level == HS6_ORIGIN
    assert index.reference("8703231000", "JP", "KGM", date(2026, 4, 1)).level == HS6_ORIGIN
    assert index.reference("8703231000", "JP", "KGM", date(2026, 2, 28)).level == HS6_ORIGIN


def test_the_most_specific_override_wins():
    index = ValuationIndex(
        [],
        [
            override("8703", min="1000"),
            override("870323", min="2000"),
            override("870323", origin="JP", min="3000"),
            override("870323", origin="JP", unit="KGM", min="4000", valid_from="2026-01-01"),
            override("870323", origin="JP", unit="KGM", min="4500", valid_from="2026-03-01"),
        ],
    )
    assert index.reference("8703231000", "JP", "KGM", ON).low == Decimal("4500")  # latest start
    assert index.reference("8703231000", "JP", "KGM", date(2026, 2, 1)).low == Decimal("4000")
    assert index.reference("8703231000", "JP", "NAR", ON).low == Decimal("3000")
    assert index.reference("8703231000", "KR", "KGM", ON).low == Decimal("2000")
    assert index.reference("8703241000", "KR", "KGM", ON).low == Decimal("1000")
    assert index.reference("8704211000", "KR", "KGM", ON) is None


def test_overrides_are_stored_replaced_by_key_and_removed(node):
    with write(node.engine) as conn:
        first, created = set_override(conn, override("870323", origin="JP", min="4000", note="étude de prix 2026"))
        again, created_again = set_override(conn, override("870323", origin="JP", min="4200", max="9000"))
        other, _ = set_override(conn, override("870323", origin="JP", min="5000", valid_from="2026-06-01"))
    assert created and not created_again and again.id == first.id and other.id != first.id
    with node.engine.connect() as conn:
        stored = list_overrides(conn, hs="8703231000")
        assert [(o.minimum, o.maximum, o.note) for o in stored] == [(Decimal("4200"), Decimal("9000"), None), (Decimal("5000"), None, None)]
        assert [o.id for o in list_overrides(conn, on=date(2026, 5, 1))] == [first.id]
        assert load_index(conn).reference("8703231000", "JP", "KGM", date(2026, 7, 1)).low == Decimal("5000")
    with write(node.engine) as conn:
        remove_override(conn, first.id)
        with pytest.raises(NotFound):
            remove_override(conn, first.id)
    with node.engine.connect() as conn:
        assert [o.id for o in list_overrides(conn)] == [other.id]


@pytest.mark.parametrize(
    ("fields", "pointer", "code"),
    [
        ({"hs": "87", "min": "1"}, "/hs", "valuation.hs_prefix"),
        ({"hs": "99999", "min": "1"}, "/hs", "valuation.hs_unknown"),
        ({"hs": "8703", "origin": "QQ", "min": "1"}, "/origin", "country.unknown"),
        ({"hs": "8703", "unit": "kilos", "min": "1"}, "/unit", "valuation.unit"),
        ({"hs": "8703"}, "/min", "valuation.bounds_missing"),
        ({"hs": "8703", "min": "-4"}, "/min", "valuation.amount"),
        ({"hs": "8703", "max": "1e400"}, "/max", "valuation.amount"),
        ({"hs": "8703", "min": "0.0000001"}, "/min", "valuation.amount"),
        ({"hs": "8703", "min": "10", "max": "5"}, "/max", "valuation.bounds_order"),
        ({"hs": "8703", "min": "1", "valid_from": "2026-02-30"}, "/valid_from", "valuation.date"),
        ({"hs": "8703", "min": "1", "valid_from": "2026-03-01", "valid_to": "2026-01-01"}, "/valid_to", "valuation.dates_order"),
        ({"hs": "8703", "min": "1", "note": "x" * 501}, "/note", "valuation.note_long"),
    ],
)
def test_a_bad_override_is_refused_with_where_and_why(fields, pointer, code):
    found, issues = override_from_fields(fields)
    assert found is None
    assert (issues[0].pointer, issues[0].code) == (pointer, code)
    assert issues[0].message("fr") != code and issues[0].message("en") != code


# --- the value-control file as CSV ------------------------------------------------------------

GOOD_LINES = [
    "870323,JP,KGM,4000,,2026-01-01,2026-12-31,étude de prix",
    "8703,,,,25000000,,,",
    "100630,TH,KGM,250,600,,,riz",
]


def csv_text(lines: list[str], header: str = ",".join(CSV_COLUMNS)) -> str:
    return "\n".join([header, *lines]) + "\n"


def test_a_value_control_file_is_read_and_written_back_the_same():
    parsed = parse_overrides_csv(csv_text(GOOD_LINES), author="awa")
    assert [(o.hs_prefix, o.origin, o.unit, o.minimum, o.maximum) for o in parsed] == [
        ("870323", "JP", "KGM", Decimal("4000"), None),
        ("8703", None, None, None, Decimal("25000000")),
        ("100630", "TH", "KGM", Decimal("250"), Decimal("600")),
    ]
    assert parse_overrides_csv(overrides_csv(parsed), author="awa") == parsed


def test_a_french_spreadsheet_file_with_semicolons_and_decimal_commas_is_read():
    text = "\ufeffhs;origin;min;max\n870323;JP;4 000,50;\n"
    (found,) = parse_overrides_csv(text.encode("utf-8"))
    assert (found.minimum, found.unit) == (Decimal("4000.50"), None)


def test_a_file_is_refused_whole_with_every_bad_line_numbered():
    lines = [GOOD_LINES[0], "87,JP,KGM,4000,,,,", GOOD_LINES[2], "870323,JP,KGM,-1,,,,", GOOD_LINES[2].replace("250", "260")]
    with pytest.raises(ValidationFailed) as caught:
        parse_overrides_csv(csv_text(lines))
    assert [(i.pointer, i.code) for i in caught.value.issues] == [
        ("/lines/3/hs", "valuation.hs_prefix"),
        ("/lines/5/min", "valuation.amount"),
        ("/lines/6", "valuation.csv_duplicate"),
    ]
    assert caught.value.issues[2].params == {"line": 4}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "valuation.csv_empty"),
        ("hs,origin,price\n8703,JP,1\n", "valuation.csv_header"),
        ("hs,min,max,min\n8703,1,2,3\n", "valuation.csv_header"),
        ("hs,min,max\n8703,1\n", "valuation.csv_fields"),
        (b"hs,min,max\n8703,\xff,\n", "valuation.csv_encoding"),
    ],
)
def test_a_broken_file_is_refused_with_a_clear_reason(text, code):
    with pytest.raises(ValidationFailed) as caught:
        parse_overrides_csv(text)
    assert caught.value.issues[0].code == code


bad_cells = {
    "hs": st.sampled_from(["", "12", "abcd", "87032310001", "9999", "8703 "]).filter(lambda x: x.strip() != "8703"),
    "origin": st.sampled_from(["QQ", "J", "123", "ZZ"]),
    "unit": st.sampled_from(["kilos", "K G", "ABCD", "-"]),
    "min": st.sampled_from(["-1", "0", "abc", "1e400", "NaN", "0.0000001", "Infinity"]),
    "valid_from": st.sampled_from(["2026-02-30", "01/03/2026", "demain", "2026-1-1"]),
}


@settings(max_examples=80, deadline=None)
@given(
    good=st.lists(st.sampled_from(GOOD_LINES), min_size=0, max_size=3, unique=True),
    where=st.integers(min_value=0, max_value=3),
    column=st.sampled_from(sorted(bad_cells)),
    data=st.data(),
)
def test_one_bad_line_anywhere_rejects_the_file_and_names_its_line(good, where, column, data):
    cells = dict(zip(CSV_COLUMNS, "870324,KR,KGM,3000,,,,".split(",")))
    cells[column] = data.draw(bad_cells[column])
    lines = list(good)
    position = min(where, len(lines))
    lines.insert(position, ",".join(cells[c] for c in CSV_COLUMNS))
    with pytest.raises(ValidationFailed) as caught:
        parse_overrides_csv(csv_text(lines))
    assert {i.pointer.split("/")[2] for i in caught.value.issues} == {str(position + 2)}


def test_an_import_stores_every_line_or_none(node):
    with write(node.engine) as conn:
        set_override(conn, override("8703", max="30000000"))
    result_lines = parse_overrides_csv(csv_text(GOOD_LINES), author="awa")
    with write(node.engine) as conn:
        result = import_overrides(conn, result_lines)
    assert (result.created, result.replaced, result.removed) == (2, 1, 0)  # 8703 (all origins, all units) replaced
    with pytest.raises(RuntimeError), write(node.engine) as conn:  # a failure mid-way rolls the whole file back
        import_overrides(conn, result_lines, replace_all=True)
        raise RuntimeError("connection lost")
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(valuation_overrides)).scalar_one() == 3
    with write(node.engine) as conn:
        result = import_overrides(conn, result_lines[:1], replace_all=True)
    assert (result.created, result.replaced, result.removed) == (1, 0, 3)


# --- flags and the revenue at risk ------------------------------------------------------------


def car_index(min_count: int = 10) -> ValuationIndex:
    return build_from_rows(rows("870323", "JP", [4800.0] * 6 + [4600.0, 5000.0, 4700.0, 4900.0, 4500.0, 5100.0]), min_count=min_count)


def test_an_under_valued_item_is_flagged_with_the_duties_it_would_hide(sqlite_node):
    ctx = sqlite_node.context
    index = car_index()
    subject, declared = subject_of(ctx, doc("U1", value=1_250_000, mass="1000"))  # 1,250 XOF/kg
    flag = check_item(index, ctx, subject, 0)
    assert flag is not None and flag.kind == "under"
    assert flag.reference.median == Decimal("4800")
    assert (flag.unit, flag.quantity, flag.declared_unit_value) == ("KGM", Decimal("1000"), Decimal("1250"))
    assert flag.reference_value == Decimal("4800000")
    assert flag.ratio == Decimal("0.2604")
    # The same car declared at the reference value, assessed by the lodging's own code:
    _, at_reference = subject_of(ctx, doc("U2", value=4_800_000, mass="1000"))
    assert flag.revenue_at_risk == at_reference.duty_total - declared.duty_total > 0
    reason = flag.reason()
    assert reason.text["en"] == (
        f"Item 1 (HS 870323, origin JP): declared 1,250 XOF/kg, reference median 4,800 XOF/kg (26%; 12 past items of HS 870323 from JP); "
        f"revenue at risk {flag.revenue_at_risk:,} XOF."
    )
    assert reason.text["fr"].startswith("Article 1 (SH 870323, origine JP) : déclaré 1\u202f250 XOF/kg, médiane de référence 4\u202f800 XOF/kg (26\u00a0%")
    assert reason.to_record()["params"]["revenue"] == str(flag.revenue_at_risk)


def test_values_within_the_usual_range_are_not_flagged(sqlite_node):
    ctx = sqlite_node.context
    subject, _ = subject_of(ctx, doc("OK", value=4_700_000, mass="1000"))
    assert check_item(car_index(), ctx, subject, 0) is None


def test_no_flag_without_enough_history_at_the_level_used(sqlite_node):
    ctx = sqlite_node.context
    subject, _ = subject_of(ctx, doc("U1", value=1_250_000, mass="1000"))
    assert check_item(car_index(min_count=13), ctx, subject, 0) is None
    assert check_item(ValuationIndex.empty(), ctx, subject, 0) is None


def test_an_item_without_quantity_is_not_checked(sqlite_node):
    """A net mass of zero is refused at lodging now; a declaration stored before that rule may have one."""
    ctx = sqlite_node.context
    legacy = doc("Z", value=1_250_000, mass="1")
    legacy = legacy.model_copy(update={"goods_items": [legacy.goods_items[0].model_copy(update={"net_mass": Decimal(0)})]})
    subject, _ = subject_of(ctx, legacy)
    assert check_item(car_index(), ctx, subject, 0) is None


def test_goods_under_a_suspensive_procedure_are_flagged_with_no_revenue_at_risk(sqlite_node):
    ctx = sqlite_node.context
    subject, _ = subject_of(ctx, doc("W", value=1_250_000, mass="1000", procedure="7100"))
    flag = check_item(car_index(), ctx, subject, 0)
    assert flag is not None and flag.revenue_at_risk == 0


def test_override_bounds_flag_below_the_minimum_and_above_the_maximum(sqlite_node):
    ctx = sqlite_node.context
    index = car_index().with_overrides([override("870323", min="4750", max="6000", note="prix catalogue")])
    low, declared = subject_of(ctx, doc("L", value=4_600_000, mass="1000"))  # within the statistics, below the minimum
    flag = check_item(index, ctx, low, 0)
    assert (flag.kind, flag.threshold, flag.reference.level) == ("under", Decimal("4750"), OVERRIDE)
    _, at_reference = subject_of(ctx, doc("R", value=4_800_000, mass="1000"))
    assert flag.revenue_at_risk == at_reference.duty_total - declared.duty_total
    assert "below the minimum of 4,750 XOF/kg" in flag.reason().text["en"]
    high, _ = subject_of(ctx, doc("H", value=9_000_000, mass="1000"))
    over = check_item(index, ctx, high, 0)
    assert (over.kind, over.threshold, over.revenue_at_risk) == ("over", Decimal("6000"), Decimal(0))
    assert "au-dessus du maximum de 6\u202f000 XOF/kg" in over.reason().text["fr"]
    fine, _ = subject_of(ctx, doc("F", value=5_500_000, mass="1000"))
    assert check_item(index, ctx, fine, 0) is None


def test_an_override_with_only_a_maximum_keeps_the_statistical_threshold(sqlite_node):
    ctx = sqlite_node.context
    index = car_index().with_overrides([override("8703", max="20000")])
    subject, _ = subject_of(ctx, doc("U", value=1_250_000, mass="1000"))
    flag = check_item(index, ctx, subject, 0)
    assert flag.kind == "under" and flag.reference.level == OVERRIDE
    assert flag.threshold == car_index().reference("870323", "JP", "KGM", ON).low
    assert "12 past items of HS 870323 from JP" in flag.reason().text["en"]


def test_check_declaration_flags_each_item_on_its_own(sqlite_node):
    ctx = sqlite_node.context
    d = declaration(lrn="M1", invoice_currency="XOF", incoterm="CIF", freight_amount="0", insurance_amount="0", invoice_amount="6250000", goods_item_quantity=2, total_package_quantity=2,
                    estimated_arrival=datetime.combine(ON + timedelta(days=5), datetime.min.time(), tzinfo=timezone.utc).isoformat())
    first = d["goods_items"][0] | {"hs_code": "8703231000", "origin_country": "JP", "invoice_amount": "5000000", "net_mass": "1000", "gross_mass": "1000"}
    second = first | {"sequence": 2, "invoice_amount": "1250000", "container_ids": []}
    d["goods_items"] = [first, second]
    subject, _ = subject_of(ctx, GoodsDeclaration.model_validate(d))
    flags = check_declaration(car_index(), ctx, subject)
    assert [f.sequence for f in flags] == [2]


def test_extreme_declared_values_are_flagged_and_explained_without_overflow(sqlite_node):
    ctx = sqlite_node.context
    index = ValuationIndex([], [override("8703", min="0.000001", max="0.00001")])
    subject, _ = subject_of(ctx, doc("X", value="99999999999999", mass="0.001"))  # 10^17 XOF per kg
    flag = check_item(index, ctx, subject, 0)
    assert flag.kind == "over" and flag.ratio > 10**20
    assert all(text for text in flag.reason().text.values())
