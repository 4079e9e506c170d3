"""``avance audit verify|show|export|sign`` as the node's IT team runs them: verify exits 0 with a
summary on a sound trail and 1 naming the first bad record otherwise; show and export filter by
actor, object and period; the exported signed heads, kept off the node, are checked too."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from typer.main import get_command

from avance.audit import service
from avance.audit.cli import make_audit_app
from avance.auth.model import Principal, Role
from avance.bootstrap import audit_keyring
from avance.kit.settings import get_settings
from avance.store.engine import write
from tests.support import public_key, run_cli

runner = CliRunner()
command = get_command(make_audit_app(audit_keyring))
ANALYST = Principal(user_id=3, name="fatou", role=Role.ANALYST, via="token:3", address="10.1.1.1")


@pytest.fixture
def audit(node: Any, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AVANCE_DATA_DIR", str(node.settings.data_dir))
    monkeypatch.setenv("AVANCE_DATABASE_URL", node.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()  # the settings are read once per process: read them for this node

    def run(*args: str) -> Any:
        return runner.invoke(command, list(args))

    yield run
    get_settings.cache_clear()


def _changes(node: Any) -> None:
    with write(node.engine) as conn:
        service.record(conn, ANALYST, "profile.changed", "risk_profile", "P-TEXT-CN", before={"score": 0.3}, after={"score": 0.4})
        service.record(conn, "moussa", "rate.replaced", "exchange_rate", "USD:2026-01-01", before={"rate": "600"}, after={"rate": "605"})


def test_verify_says_sound_then_names_the_altered_record(node, audit):
    _changes(node)
    signed = audit("sign")
    assert signed.exit_code == 0 and "record 2" in signed.output
    sound = audit("verify")
    assert sound.exit_code == 0, sound.output
    assert "Audit trail sound: 2 records" in sound.output and "1 signed heads" in sound.output
    with write(node.engine) as conn:
        conn.execute(text("UPDATE audit_records SET after_doc = '{\"rate\": \"600\"}' WHERE seq = 2"))
    broken = audit("verify")
    assert broken.exit_code == 1
    assert "NOT sound, record 2" in broken.output and "altered" in broken.output


def test_verify_with_exported_heads_catches_a_rewrite_that_removed_the_stored_heads(node, audit, tmp_path: Path):
    _changes(node)
    assert audit("sign").exit_code == 0
    heads = tmp_path / "heads.jsonl"
    exported = audit("export", str(heads), "--heads")
    assert exported.exit_code == 0 and "1 signed heads" in exported.output
    with write(node.engine) as conn:  # everything removed, from the records to the signed heads
        conn.execute(text("DELETE FROM audit_signed_heads"))
        conn.execute(text("DELETE FROM audit_records"))
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = '" + "0" * 64 + "'"))
    assert audit("verify").exit_code == 0
    broken = audit("verify", "--heads", str(heads))
    assert broken.exit_code == 1 and "records were removed" in broken.output


def test_show_filters_by_actor_object_and_period(node, audit):
    _changes(node)
    shown = audit("show", "--actor", "fatou", "--json")
    lines = [json.loads(line) for line in shown.output.splitlines()]
    assert [(r["actor"], r["role"], r["via"], r["object_id"]) for r in lines] == [("fatou", "analyst", "token:3", "P-TEXT-CN")]
    by_object = [json.loads(line) for line in audit("show", "--object", "exchange_rate:USD:2026-01-01", "--json").output.splitlines()]
    assert [r["actor"] for r in by_object] == ["moussa"]
    assert audit("show", "--since", "2999-01-01").output.strip() == "No records."
    assert "P-TEXT-CN" in audit("show", "--until", "2999-01-01").output
    bad = audit("show", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_export_writes_json_lines_an_auditor_can_check_again(node, audit, tmp_path: Path):
    _changes(node)
    target = tmp_path / "trail.jsonl"
    done = audit("export", str(target), "--actor", "moussa")
    assert done.exit_code == 0 and "1 records" in done.output
    (only,) = [json.loads(line) for line in target.read_text().splitlines()]
    assert only["action"] == "rate.replaced" and only["before_doc"] == {"rate": "600"} and len(only["hash"]) == 64


def test_command_line_changes_are_recorded_with_the_operating_system_user(node, audit):
    code, _, err = run_cli(["users", "create", "--name", "khady.ndiaye", "--role", "analyst"])
    assert code == 0, err
    code, _, err = run_cli(["partners", "add", "--node-id", "GH-AVANCE", "--country", "GH", "--endpoint", "http://127.0.0.1:9", "--public-key", public_key()])
    assert code == 0, err
    shown = [json.loads(line) for line in audit("show", "--json").output.splitlines()]
    by_action = {r["action"]: r for r in shown}
    me = getpass.getuser()
    created = by_action["users.created"]
    assert (created["object_id"], created["actor"], created["role"], created["via"]) == ("khady.ndiaye", me, "admin", f"cli:{me}")
    assert created["after_doc"]["role"] == "analyst" and "token" not in json.dumps(created)
    assert by_action["partner.added"]["object_id"] == "GH-AVANCE" and by_action["partner.added"]["via"] == f"cli:{me}"
