"""An analyst drives the valuation references from the command line: build, look up, keep the
value-control file. Bad input gets one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.kit.settings import get_settings
from avance.risk.valuation.overrides_file import parse_overrides_csv
from tests.support import make_node
from tests.support import lodge_history
from tests.support import valuation_doc as doc
from tests.support import run_cli


@pytest.fixture
def cli_node(tmp_path, monkeypatch):
    """A node in ``tmp_path`` with some car imports from Japan and Korea; the CLI's settings point at it."""
    node = make_node(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}", tmp_path)
    lodge_history(node, [doc(f"J{i}", value=4_800_000 + 10_000 * i) for i in range(10)] + [doc(f"K{i}", origin="KR", value=6_000_000) for i in range(2)])
    for name in [k for k in os.environ if k.startswith("AVANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()
    yield node
    node.engine.dispose()
    get_settings.cache_clear()


def run_main(*args: str) -> tuple[int, str, str]:
    return run_cli(args)

def one_line_error(code: int, err: str) -> bool:
    return code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_build_prints_the_references_per_level_and_show_tells_which_level_is_used(cli_node, tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")} | {"AVANCE_DATA_DIR": str(tmp_path), "AVANCE_LANG": "en"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "avance", "valuation", *args], capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120)

    built = run("build", "--min-count", "5")
    assert built.returncode == 0, built.stderr
    lines = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:4]] for line in built.stdout.splitlines() if line.count("│") == 4}
    assert lines["HS6 × origin"] == ["2", "1"]  # Japan has 10 cars, Korea 2 (fewer than 5)
    assert lines["HS6, all origins"] == ["1", "1"] and lines["HS4, all origins"] == ["1", "1"]
    assert "12 items used" in built.stdout
    korea = run("show", "--hs", "8703231000", "--origin", "KR", "--json")
    assert korea.returncode == 0, korea.stderr
    shown = json.loads(korea.stdout)
    assert (shown["reference"]["level"], shown["reference"]["n"]) == ("hs6", 12)
    assert [level["level"] for level in shown["levels"]] == ["hs6_origin", "hs6", "hs4"]
    japan = run("show", "--hs", "870323", "--origin", "JP")
    # Unit values are shown in the operator's language (Babel): 4,845 in English, 4 845 in French.
    assert "Reference used: HS6 × origin (HS 870323), median 4,845 XOF/kg" in " ".join(japan.stdout.split())


def test_show_without_any_reference_or_with_bad_options_ends_in_one_line(cli_node):
    code, _, err = run_main("valuation", "show", "--hs", "100630")
    assert one_line_error(code, err) and "100630" in err
    for args in (["--hs", "87"], ["--hs", "870323", "--origin", "QQ"], ["--hs", "870323", "--on", "2026-02-30"], ["--hs", "870323", "--unit", "kilos"]):
        code, _, err = run_main("valuation", "show", *args)
        assert one_line_error(code, err), (args, err)
    code, _, err = run_main("valuation", "build", "--since", "2026-03-01", "--until", "2026-01-01")
    assert one_line_error(code, err) and "2026-03-01" in err


def test_the_value_control_file_is_kept_from_the_command_line(cli_node):
    code, out, err = run_main("valuation", "overrides", "set", "--hs", "870323", "--origin", "JP", "--min", "5000", "--max", "9000", "--note", "prix catalogue", "--author", "awa")
    assert code == 0, err
    assert "created" in out
    code, out, _ = run_main("valuation", "overrides", "set", "--hs", "870323", "--origin", "JP", "--min", "5200", "--author", "awa")
    assert code == 0 and "replaced" in out
    code, out, _ = run_main("valuation", "overrides", "list", "--json")
    (line,) = json.loads(out)
    assert (line["hs"], line["origin"], line["min"], line["max"], line["author"]) == ("870323", "JP", "5200", None, "awa")
    run_main("valuation", "build")
    code, out, _ = run_main("valuation", "show", "--hs", "8703231000", "--origin", "JP", "--json")
    assert json.loads(out)["reference"]["level"] == "override" and json.loads(out)["reference"]["low"] == "5200"
    code, out, _ = run_main("valuation", "overrides", "remove", str(line["id"]))
    assert code == 0 and "removed" in out
    code, _, err = run_main("valuation", "overrides", "remove", str(line["id"]))
    assert one_line_error(code, err) and str(line["id"]) in err


def test_a_french_analyst_types_bounds_with_a_decimal_comma(cli_node, monkeypatch):
    monkeypatch.setenv("AVANCE_LANG", "fr")
    get_settings.cache_clear()
    code, out, err = run_main("valuation", "overrides", "set", "--hs", "870323", "--min", "4\u202f500,50", "--max", "9000", "--author", "awa")
    assert code == 0, err
    code, out, _ = run_main("valuation", "overrides", "list")
    assert "4\u202f500,5" in out and "9\u202f000" in out
    code, out, _ = run_main("valuation", "overrides", "list", "--json")
    assert json.loads(out)[0]["min"] == "4500.5"  # scripts read the plain form


def test_a_bad_override_names_every_wrong_option_in_one_line(cli_node):
    code, _, err = run_main("valuation", "overrides", "set", "--hs", "87", "--origin", "QQ", "--min", "abc", "--valid-from", "2026-13-01")
    assert one_line_error(code, err)
    for option in ("--hs", "--origin", "--min", "--valid-from"):
        assert option in err
    code, _, err = run_main("valuation", "overrides", "set", "--hs", "870323")
    assert one_line_error(code, err) and "minimum, a maximum or both" in err


def test_a_file_with_a_bad_line_is_refused_whole_and_a_good_one_exported_back(cli_node, tmp_path):
    good = "hs,origin,unit,min,max,valid_from,valid_to,note\n870323,JP,KGM,4000,,2026-01-01,,étude\n100630,TH,KGM,250,600,,,riz\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(good + "8703,JP,KGM,-5,,,,\n870323,JP,KGM,1,2,3\n", encoding="utf-8")
    code, _, err = run_main("valuation", "overrides", "import", str(bad))
    assert one_line_error(code, err)
    assert "line 4 (min)" in err and "line 5" in err
    assert json.loads(run_main("valuation", "overrides", "list", "--json")[1]) == []
    source = tmp_path / "good.csv"
    source.write_text(good, encoding="utf-8")
    code, out, err = run_main("valuation", "overrides", "import", str(source), "--author", "awa")
    assert code == 0 and "2 override(s) created" in out, err
    target = tmp_path / "export.csv"
    assert run_main("valuation", "overrides", "export", str(target))[0] == 0
    assert sorted(parse_overrides_csv(target.read_text(encoding="utf-8")), key=str) == sorted(parse_overrides_csv(good), key=str)
    code, _, err = run_main("valuation", "overrides", "import", str(tmp_path / "missing.csv"))
    assert one_line_error(code, err)


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    hs=st.one_of(words, st.sampled_from(["8703", "870323", "8703231000", "99"])),
    origin=st.one_of(st.none(), words, st.sampled_from(["JP", "jp"])),
    minimum=st.one_of(st.none(), words, st.decimals(allow_nan=True, allow_infinity=True).map(str)),
    maximum=st.one_of(st.none(), words, st.integers(-(10**20), 10**20).map(str)),
    valid_from=st.one_of(st.none(), words, st.dates().map(str)),
)
def test_whatever_an_analyst_types_an_override_is_set_or_refused_in_one_line(cli_node, hs, origin, minimum, maximum, valid_from):
    args = ["valuation", "overrides", "set", f"--hs={hs}"]
    for option, value in (("--origin", origin), ("--min", minimum), ("--max", maximum), ("--valid-from", valid_from)):
        if value is not None:
            args.append(f"{option}={value}")
    code, _, err = run_main(*args)
    assert code in (0, 2), err
    if code == 2:
        assert one_line_error(code, err), err
