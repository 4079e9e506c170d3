"""An analyst brings an administration's own extract through a column mapping, and the node's
inspected declarations become training rows: both end in the same canonical risk frame."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.declarations.processing import MemoryLookups, process
from avance.declarations.assessment import AssessmentInput, ItemFacts
from avance.risk.learning.frame import CATEGORICAL, NUMERIC, FrameError, frame_from_store, load_mapping, read_csv, records_from_subject
from avance.store.engine import write
from tests.support import declaration
from tests.support import ROOT

KCS = Path("/work/shared/data/kcs_customs_declarations_2022")

MAPPING = """
version: 1
name: test
csv: {delimiter: ";"}
date_format: "%d/%m/%Y"
columns: {id: Ref, date: Jour, importer: Importateur, hs_code: SH, origin: Origine, net_mass: Masse, value: Valeur, office: Bureau}
extra_categorical: {channel: Canal}
extra_numeric: {packages: Colis}
labels: {fraud: Fraude}
"""
HEADER = "Ref;Jour;Importateur;SH;Origine;Masse;Valeur;Bureau;Canal;Colis;Fraude"


def write_files(tmp_path: Path, rows: list[str], mapping: str = MAPPING, header: str = HEADER) -> tuple[Path, Path]:
    (tmp_path / "map.yaml").write_text(mapping, encoding="utf-8")
    (tmp_path / "data.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return tmp_path / "map.yaml", tmp_path / "data.csv"


def error_of(call) -> str:
    with pytest.raises(FrameError) as info:
        call()
    return info.value.message("en")


def test_an_extract_becomes_the_canonical_frame_with_every_column_typed(tmp_path):
    mapping_path, data = write_files(
        tmp_path,
        [
            "A1;03/01/2021;IMP1;10630;CN;120.5;5000;30;P;2;1",
            "A2;04/01/2021;IMP2;8703231000;JP;1000;4000000;40;E;1;0",
        ],
    )
    frame = read_csv([data], load_mapping(mapping_path), labels=True)
    assert list(frame["id"]) == ["A1", "A2"] and list(frame["declaration"]) == ["A1", "A2"]
    assert frame["date"].dtype == "datetime64[ns]" and frame["date"].iloc[0] == pd.Timestamp("2021-01-03")
    assert list(frame["hs_code"]) == ["010630", "8703231000"]  # a spreadsheet dropped the leading 0
    assert list(frame["hs6"]) == ["010630", "870323"] and list(frame["hs4"]) == ["0106", "8703"] and list(frame["hs2"]) == ["01", "87"]
    assert list(frame["office"]) == ["30", "40"] and list(frame["channel"]) == ["P", "E"]
    assert list(frame["packages"]) == [2.0, 1.0]
    assert list(frame["fraud"]) == [1.0, 0.0]
    for name in CATEGORICAL:
        assert name in frame
    assert frame["declarant"].eq("").all()  # not mapped: empty, never NaN
    for name in NUMERIC:
        assert frame[name].dtype == float
    assert frame["quantity"].isna().all()
    assert frame.attrs["mapping"] == "test"


def test_several_files_are_concatenated_in_order(tmp_path):
    mapping_path, first = write_files(tmp_path, ["A1;03/01/2021;I;100630;CN;1;1;30;P;1;0"])
    second = tmp_path / "more.csv"
    second.write_text(HEADER + "\nB1;05/01/2021;I;100630;CN;1;1;30;P;1;1\n", encoding="utf-8")
    frame = read_csv([first, second], load_mapping(mapping_path), labels=True)
    assert list(frame["id"]) == ["A1", "B1"] and list(frame["fraud"]) == [0.0, 1.0]


def test_scoring_never_needs_the_label_column(tmp_path):
    header = HEADER.rsplit(";", 1)[0]
    mapping_path, data = write_files(tmp_path, ["A1;03/01/2021;I;100630;CN;1;1;30;P;1"], header=header)
    mapping = load_mapping(mapping_path)
    frame = read_csv([data], mapping, labels=False)
    assert "fraud" not in frame and len(frame) == 1
    assert "Fraude" in error_of(lambda: read_csv([data], mapping, labels=True))


def test_zero_negative_empty_or_text_amounts_become_unknown_never_inf(tmp_path):
    mapping_path, data = write_files(
        tmp_path,
        [
            "A1;03/01/2021;I;100630;CN;0;5000;30;P;1;0",
            "A2;03/01/2021;I;100630;CN;-4;0;30;P;1;0",
            "A3;03/01/2021;I;100630;CN;;abc;30;P;;0",
            "A4;03/01/2021;I;100630;CN;inf;nan;30;P;1e400;0",
        ],
    )
    frame = read_csv([data], load_mapping(mapping_path), labels=True)
    assert frame["net_mass"].isna().all()
    assert frame["value"].iloc[0] == 5000 and frame["value"].iloc[1:].isna().all()
    assert not np.isinf(frame.select_dtypes("number").to_numpy()).any()


def test_a_french_extract_with_decimal_commas_is_read(tmp_path):
    mapping = MAPPING.replace('csv: {delimiter: ";"}', 'csv: {delimiter: ";", decimal: ","}')
    mapping_path, data = write_files(tmp_path, ["A1;03/01/2021;I;100630;CN;1 250,5;1.234.567,25;30;P;1;oui"], mapping=mapping)
    frame = read_csv([data], load_mapping(mapping_path), labels=True)
    assert frame["value"].iloc[0] == pytest.approx(1234567.25)
    assert frame["fraud"].iloc[0] == 1.0


@pytest.mark.parametrize(
    "change, named",
    [
        (("importer: Importateur", "importateur: Importateur"), "importateur"),
        (("id: Ref, ", ""), "id"),
        (("date: Jour, ", ""), "date"),
        (("channel: Canal", "office: Canal"), "office"),
        (("channel: Canal", "Bad-Name: Canal"), "Bad-Name"),
        (("labels: {fraud: Fraude}", "labels: {fraude: Fraude}"), "fraude"),
        (("version: 1", "version: 2"), "version"),
        (("columns: {", "columns: [{"), "YAML"),
    ],
)
def test_a_wrong_mapping_is_refused_with_a_message_naming_the_field(tmp_path, change, named):
    mapping_path, _ = write_files(tmp_path, [], mapping=MAPPING.replace(*change))
    message = error_of(lambda: load_mapping(mapping_path))
    assert named in message and str(mapping_path) in message


def test_a_mapped_column_missing_from_the_file_is_named(tmp_path):
    mapping_path, data = write_files(tmp_path, ["A1;03/01/2021;I;100630;CN;1;1;P;1;0"], header=HEADER.replace("Bureau;", ""))
    message = error_of(lambda: read_csv([data], load_mapping(mapping_path), labels=True))
    assert "Bureau" in message and "data.csv" in message


def test_an_unreadable_date_or_label_names_its_line(tmp_path):
    mapping_path, data = write_files(tmp_path, ["A1;03/01/2021;I;100630;CN;1;1;30;P;1;0", "A2;31/02/2021;I;100630;CN;1;1;30;P;1;0"])
    message = error_of(lambda: read_csv([data], load_mapping(mapping_path), labels=True))
    assert "line 3" in message and "31/02/2021" in message
    mapping_path, data = write_files(tmp_path, ["A1;03/01/2021;I;100630;CN;1;1;30;P;1;peut-être"])
    message = error_of(lambda: read_csv([data], load_mapping(mapping_path), labels=True))
    assert "line 2" in message and "peut-être" in message


def test_an_empty_label_means_not_inspected(tmp_path):
    mapping_path, data = write_files(tmp_path, ["A1;03/01/2021;I;100630;CN;1;1;30;P;1;", "A2;03/01/2021;I;100630;CN;1;1;30;P;1;1"])
    frame = read_csv([data], load_mapping(mapping_path), labels=True)
    assert np.isnan(frame["fraud"].iloc[0]) and frame["fraud"].iloc[1] == 1.0


def test_a_missing_file_is_named(tmp_path):
    mapping_path, _ = write_files(tmp_path, [])
    assert "nope.csv" in error_of(lambda: read_csv([tmp_path / "nope.csv"], load_mapping(mapping_path)))
    assert "nope.yaml" in error_of(lambda: load_mapping(tmp_path / "nope.yaml"))


def test_the_shipped_kcs_mapping_reads_the_kcs_files():
    if not KCS.is_dir():
        pytest.skip("KCS data not present")
    mapping = load_mapping(ROOT / "examples" / "mappings" / "kcs.yaml")
    frame = read_csv([KCS / "df_syn_valid_eng.csv"], mapping, labels=True)
    assert len(frame) == 8134 and frame["date"].min() == pd.Timestamp("2021-01-01")
    assert frame["fraud"].isin([0.0, 1.0]).all() and 0.15 < frame["fraud"].mean() < 0.3
    assert frame["hs6"].str.len().eq(6).all() and frame["import_type"].ne("").all()


# --- declarations of the node ---------------------------------------------------------------

ON = date(2026, 3, 2)


def two_item_declaration(lrn: str, values: tuple[int, int] = (4_000_000, 1_000_000), exporter: dict | None = None) -> GoodsDeclaration:
    eta = datetime.combine(ON + timedelta(days=5), datetime.min.time(), tzinfo=timezone.utc)
    d = declaration(lrn=lrn, invoice_currency="XOF", incoterm="CIF", freight_amount="0", insurance_amount="0", invoice_amount=str(sum(values)), estimated_arrival=eta.isoformat())
    first = d["goods_items"][0]
    first.update(invoice_amount=str(values[0]), origin_country="JP")
    second = dict(first, sequence=2, hs_code="8517130000", origin_country="CN", invoice_amount=str(values[1]), net_mass="2", gross_mass="3", supplementary_quantity="4", supplementary_unit="NAR")
    d["goods_items"] = [first, second]
    d["goods_item_quantity"] = 2
    d["total_package_quantity"] = 2
    if exporter is not None:
        d["exporter"] = exporter
    return GoodsDeclaration.model_validate(d)


def test_a_lodged_declaration_gives_one_record_per_item_with_its_computed_values(node):
    d = two_item_declaration("R1", exporter={"id": "CN9988", "name": "Shenzhen Trading", "country": "CN"})
    p = process(node.context, d, ON, MemoryLookups())
    items = tuple(ItemFacts(r.customs_value, r.duties.total) for r in p.items)
    subject = AssessmentInput(d, "SN", "XOF", ON, items, p.duty_total, p.customs_value)
    records = records_from_subject(subject)
    assert [r["id"] for r in records] == ["R1/1", "R1/2"] and {r["declaration"] for r in records} == {"R1"}
    first, second = records
    assert first["value"] == 4_000_000 and first["duty"] == float(items[0].duty_total) > 0
    assert first["office"] == "SN-DKR-PORT" and first["procedure"] == "4000" and first["transport_mode"] == "1"
    assert first["importer"] == "SN0098765B2" and first["declarant"] == "SN0012345A7"
    assert first["seller"] == "CN9988" and first["departure"] == "CN" and first["tax_type"] == "general"
    assert second["hs_code"] == "8517130000" and second["origin"] == "CN" and second["quantity"] == 4.0
    assert first["tax_rate"] == pytest.approx(100 * first["duty"] / first["value"], rel=1e-4)


def test_inspected_declarations_become_labelled_rows_with_the_recovered_duty_spread_by_item_duty(node):
    docs = [two_item_declaration(f"S{i}") for i in range(4)]
    with write(node.engine) as conn:
        outcome = service.lodge_batch(conn, node.context, [(d, ON + timedelta(days=i)) for i, d in enumerate(docs)], SYSTEM)
        ids = outcome.ids
        for declaration_id in ids[:3]:
            service.record_arrival(conn, declaration_id, SYSTEM)
        service.record_inspection(conn, ids[0], SYSTEM, fraud_found=True, fraud_kinds=["undervaluation"], extra_duty=Decimal("1000000"), findings=None)
        service.record_inspection(conn, ids[1], SYSTEM, fraud_found=False, fraud_kinds=[], extra_duty=Decimal(0), findings=None)
        service.record_inspection(conn, ids[2], SYSTEM, fraud_found=True, fraud_kinds=["origin"], extra_duty=Decimal(0), findings=None)
        service.record_rejection(conn, ids[2], SYSTEM, reason="faux documents")
    with node.engine.connect() as conn:
        frame = frame_from_store(conn)
        everything = frame_from_store(conn, inspected_only=False)
        later = frame_from_store(conn, since=ON + timedelta(days=1), inspected_only=False)
    assert list(frame["declaration"]) == [str(ids[0])] * 2 + [str(ids[1])] * 2  # rejected: left out
    assert list(frame["fraud"]) == [1.0, 1.0, 0.0, 0.0]
    first = frame[frame["declaration"] == str(ids[0])]
    assert first["recovered"].sum() == pytest.approx(1_000_000)
    duty_share = first["duty"] / first["duty"].sum()
    assert np.allclose(first["recovered"] / 1_000_000, duty_share)
    assert frame["date"].iloc[0] == pd.Timestamp(ON) and frame["office"].eq("SN-DKR-PORT").all()
    assert len(everything) == 6 and everything["fraud"].isna().sum() == 2  # S3 never inspected
    assert set(later["declaration"]) == {str(ids[1]), str(ids[3])}


def test_an_empty_store_gives_an_empty_frame(node):
    with node.engine.connect() as conn:
        frame = frame_from_store(conn)
    assert len(frame) == 0 and {"id", "date", "fraud", "recovered", "hs6"} <= set(frame.columns)


text_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n;\""), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.lists(text_cells, min_size=11, max_size=11),
            st.one_of(st.dates().map(lambda d: d.strftime("%d/%m/%Y")), text_cells),
            st.one_of(st.sampled_from(["0", "1", "", "oui", "non"]), text_cells),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_cell_text_gives_a_frame_or_a_clear_error_never_a_crash(tmp_path, rows):
    lines = [";".join([cells[0], day, *cells[2:10], label]) for cells, day, label in rows]
    mapping_path, data = write_files(tmp_path, lines)
    try:
        frame = read_csv([data], load_mapping(mapping_path), labels=True)
    except FrameError as exc:
        assert exc.message("en") and exc.message("fr")
        return
    assert len(frame) == len(rows)
    numbers = frame[list(NUMERIC)].to_numpy(dtype=float)
    assert not np.isinf(numbers).any()
    assert frame["fraud"].isna().all() or frame["fraud"].dropna().isin([0.0, 1.0]).all()
