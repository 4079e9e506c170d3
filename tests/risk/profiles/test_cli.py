"""An analyst manages selectivity profiles from the command line; bad input gets one line and exit 2."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.risk.profiles.rules import load_rules
from tests.support import ROOT, run_cli
from tests.support import run_avance as run

SHIPPED = ROOT / "src" / "avance" / "risk" / "profiles" / "rules.yaml"
SHIPPED_IDS = sorted(r.id for r in load_rules().rules)


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised node for the module."""
    path = tmp_path_factory.mktemp("profiles-cli")
    assert run(["init", "--country", "SN"], path).returncode == 0
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def avance(node_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """``avance ...`` run in-process (``avance.__main__.main``) against the module's node."""
    from avance.kit.settings import get_settings

    for name in [k for k in os.environ if k.startswith("AVANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_DATA_DIR", str(node_dir))

    def call(*args: str, lang: str = "en") -> Result:
        monkeypatch.setenv("AVANCE_LANG", lang)
        get_settings.cache_clear()
        return Result(*run_main(list(args)))

    yield call
    get_settings.cache_clear()


NEW_PROFILE = """
rules:
  - id: P-TEXT-CN-LOW
    description:
      fr: "Textiles chinois déclarés à moins de 2 000 par kg"
      en: "Chinese textiles declared below 2,000 per kg"
    valid_from: 2026-01-01
    when: {hs_prefix: ["61", "62"], origin: [CN], value_per_kg_below: 2000}
    lane: red
    score: 0.3
"""


def test_an_analyst_imports_lists_shows_exports_deactivates_and_reads_hit_rates(node_dir, avance, tmp_path):
    shipped = run(["profiles", "import", str(SHIPPED)], node_dir)  # the real command, once; init seeded these
    assert shipped.returncode == 0, shipped.stderr
    assert "0 created, 0 updated, 6 unchanged, 0 deactivated" in shipped.stdout
    new = tmp_path / "new.yaml"
    new.write_text(NEW_PROFILE, encoding="utf-8")
    imported = avance("profiles", "import", str(new), "--author", "awa.ndiaye")
    assert "1 created, 0 updated, 0 unchanged, 0 deactivated" in imported.stdout, imported.stderr
    assert "awa.ndiaye" in avance("profiles", "show", "P-TEXT-CN-LOW").stdout
    listed = avance("profiles", "list")
    assert all(profile_id in listed.stdout for profile_id in [*SHIPPED_IDS, "P-TEXT-CN-LOW"])
    gone = avance("profiles", "deactivate", "TOBACCO", "--author", "moussa.fall")
    assert gone.returncode == 0 and "version 2" in gone.stdout
    shown = avance("profiles", "show", "TOBACCO")
    assert shown.returncode == 0 and "active: false" in shown.stdout
    assert "avance init" in shown.stdout and "moussa.fall" in shown.stdout and "deactivated" in shown.stdout
    assert "TOBACCO" not in avance("profiles", "list", "--active").stdout
    exported = node_dir / "profiles.yaml"
    written = avance("profiles", "export", str(exported))
    assert written.returncode == 0 and exported.is_file()
    assert sorted(r["id"] for r in yaml.safe_load(exported.read_text(encoding="utf-8"))["rules"]) == sorted([*SHIPPED_IDS, "P-TEXT-CN-LOW"])
    to_stdout = avance("profiles", "export")
    assert yaml.safe_load(to_stdout.stdout)["rules"] == yaml.safe_load(exported.read_text(encoding="utf-8"))["rules"]
    again = avance("profiles", "import", str(exported))
    assert "0 created, 0 updated, 7 unchanged, 0 deactivated" in again.stdout, again.stdout + again.stderr
    stats = avance("profiles", "stats", "--json", "--since", "2026-01-01", "--until", "2026-12-31")
    assert stats.returncode == 0, stats.stderr
    items = {s["profile_id"]: s for s in json.loads(stats.stdout)["items"]}
    assert sorted(items) == sorted([*SHIPPED_IDS, "P-TEXT-CN-LOW"]) and items["TOBACCO"]["active"] is False and items["TOBACCO"]["hit_rate"] is None
    assert "TOBACCO" in avance("profiles", "stats").stdout
    assert avance("profiles", "backfill-hits").returncode == 0
    unsigned = avance("profiles", "deactivate", "P-TEXT-CN-LOW")  # no --author: the operating-system user
    assert unsigned.returncode == 0, unsigned.stderr
    assert getpass.getuser() in avance("profiles", "show", "P-TEXT-CN-LOW").stdout


@pytest.mark.parametrize(
    ("args", "content", "expected"),
    [
        (["profiles", "import", "{file}"], "rules: [\n", "not valid YAML"),
        (["profiles", "import", "{file}"], "rules:\n  - id: P-X\n    description: {fr: a, en: b}\n    when: {origin: [fr]}\n    lane: red\n", "/rules/0/when/origin/0"),
        (["profiles", "import", "{file}"], "rules:\n  - id: P-X\n    description: {fr: a, en: b}\n    when: {origin: [FR]}\n", "/rules/0/lane"),
        (["profiles", "import", "missing.yaml"], None, "missing.yaml"),
        (["profiles", "show", "P-NOWHERE"], None, "P-NOWHERE"),
        (["profiles", "deactivate", "P-NOWHERE"], None, "P-NOWHERE"),
        (["profiles", "stats", "--since", "2026-02-30"], None, "--since"),
        (["profiles", "import", "{file}", "--author", ""], "rules: []\n", "author"),
    ],
)
def test_bad_input_gets_one_line_and_exit_code_2_and_stores_nothing(avance, tmp_path, args, content, expected):
    before = avance("profiles", "export").stdout.split("\n", 2)[2]
    path = tmp_path / "input.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = avance(*[a.replace("{file}", str(path)) for a in args])
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert avance("profiles", "export").stdout.split("\n", 2)[2] == before


def test_errors_come_in_one_line_in_the_operators_language(node_dir):
    result = run(["profiles", "show", "P-NOWHERE"], node_dir, lang="fr")  # the real command
    assert result.returncode == 2 and result.stderr.strip() == "erreur : Aucun profil de risque P-NOWHERE."


def run_main(args: list[str]) -> tuple[int, str, str]:
    return run_cli(args)

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda key, value: yaml.safe_dump({"rules": [{"id": "P-H", "description": {"fr": "a", "en": "b"}, "when": {key: value}, "lane": "red"}]}),
            st.sampled_from(["origin", "hs_prefix", "incoterm", "transport_mode", "value_per_kg_below", "supplementary_unit", "hs_code", "colour"]),
            st.one_of(st.text(max_size=6), st.integers(), st.lists(st.text(max_size=3), max_size=2)),
        ),
    )
)
def test_any_profile_file_is_imported_or_refused_in_one_line(avance, node_dir, tmp_path_factory, text):
    path = tmp_path_factory.mktemp("hyp") / "profiles.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = _versions_saved(node_dir)
    result = avance("profiles", "import", str(path))
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert _versions_saved(node_dir) == before


def _versions_saved(node_dir: Path) -> int:
    from sqlalchemy import func, select

    from avance.store.engine import make_engine
    from avance.risk.profiles.tables import risk_profile_versions

    engine = make_engine(f"sqlite:///{(node_dir / 'avance.db').as_posix()}")
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(risk_profile_versions)).scalar_one()
    finally:
        engine.dispose()
