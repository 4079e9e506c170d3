"""Backup and restore (``avance backup``, ``avance backup verify``, ``avance restore``): a node
restored from its backup holds every row of every table, its private keys, models and settings
files; a backup is consistent while the node writes; it cannot be read without its passphrase,
and a damaged or altered backup is refused with one line and exit code 2."""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import threading
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import inspect, select, text

from avance.auth import totp
from avance.auth.model import Role
from avance.auth.service import create_user
from avance.auth.sessions import enrol_totp
from avance.auth.tables import users
from avance.declarations.tables import declaration_events, declarations, goods_items
from avance.entrypoints.cli import run
from avance.kit.i18n import catalog
from avance.kit.settings import Settings, get_settings
from avance.operations import archive, backup as backups
from avance.operations.archive import BackupError, OpeningReader, SealingWriter
from avance.operations.backup import create_backup, restore_backup, verify_backup
from avance.operations.cli import backup_app, restore
from avance.store.engine import make_engine, write
from tests.conftest import scratch_database
from tests.support import ROOT, declaration, exchange_ready, lodge_document, make_node

PASSPHRASE = "a long passphrase kept in the safe"


SHIPPED_SCRYPT_N = archive.SCRYPT_N


@pytest.fixture(autouse=True)
def _quick_key_derivation(monkeypatch):
    """scrypt at a test cost (the header carries it, so readers follow); one test uses the real one."""
    monkeypatch.setattr(archive, "SCRYPT_N", 1 << 12)


def test_the_passphrase_is_stretched_at_the_shipped_cost_and_the_header_says_so(monkeypatch):
    # scrypt 2^17 x 8 x 128 bytes: 128 MiB and a fraction of a second for each guess of the passphrase.
    assert SHIPPED_SCRYPT_N >= 1 << 17
    monkeypatch.setattr(archive, "SCRYPT_N", SHIPPED_SCRYPT_N)
    sink = io.BytesIO()
    writer = SealingWriter(sink, PASSPHRASE)
    writer.write(b"x")
    writer.finish()
    kdf = writer.header.fields["kdf"]
    assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", SHIPPED_SCRYPT_N, 8, 1)
    reader = OpeningReader(io.BytesIO(sink.getvalue()), PASSPHRASE)
    assert reader.read() == b"x" and reader.complete


# --- a node with real data ----------------------------------------------------------------------


def _populate(node, lrns: int = 3) -> None:
    """Keys, declarations, an installed model and a settings file: what a running node has."""
    exchange_ready(node)
    for i in range(lrns):
        lodge_document(node, declaration(lrn=f"2026-DKR-{i + 1:06d}"))
    models = node.settings.resolved_models_dir()
    (models / "m-20260301").mkdir(parents=True)
    (models / "m-20260301" / "model.json").write_text('{"format": 1}')
    (models / "m-20260301" / "booster.txt").write_bytes(os.urandom(2048))
    (models / "CURRENT").write_text("m-20260301\n")


def _with_rules_file(node, tmp_path: Path) -> tuple[Settings, Path]:
    rules = tmp_path / "conf" / "rules.yaml"
    rules.parent.mkdir()
    rules.write_text("profiles: []\n")
    return node.settings.model_copy(update={"rules_file": rules}), rules


def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Every table of a database: its row count and a digest of its rows (in any order)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            result = {}
            for name in sorted(inspect(conn).get_table_names()):
                quoted = conn.dialect.identifier_preparer.quote(name)
                rows = sorted(repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {quoted}")))
                result[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
            return result
    finally:
        engine.dispose()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _round_trip(node, source_url: str, target_url: str, tmp_path: Path) -> None:
    _populate(node)
    with write(node.engine) as conn:  # an administrator's second factor, sealed with the node's key
        create_user(conn, name="aminata", role=Role.ADMIN)
        secret, _ = enrol_totp(conn, "aminata", issuer="Avance SN", sealer=totp.sealer(node.settings.data_dir))
    settings, rules = _with_rules_file(node, tmp_path)
    file = tmp_path / "node.avb"
    made = create_backup(settings, file, PASSPHRASE)
    assert made.rows > 0 and made.members == 1 + 2 + 3 + 1  # database, signing and sealing keys, model files, rules
    assert oct(file.stat().st_mode & 0o777) == "0o600"

    target_dir = tmp_path / "restored"
    done = restore_backup(file, PASSPHRASE, database_url=target_url, data_dir=target_dir, models_dir=target_dir / "models")

    source, restored = table_digests(source_url), table_digests(target_url)
    assert restored == source
    assert source["declarations"][0] == 3 and source["exchange_keys"][0] == 1 and source["node_settings"][0] >= 3
    keys = node.settings.data_dir / "exchange-keys"
    assert _files(target_dir / "exchange-keys") == _files(keys) and len(_files(keys)) == 2
    restored_engine = make_engine(target_url)
    try:
        with restored_engine.connect() as conn:
            sealed = conn.execute(select(users.c.totp_secret).where(users.c.name == "aminata")).scalar_one()
    finally:
        restored_engine.dispose()
    assert totp.sealer(target_dir).open(sealed) == secret, "the restored node opens its users' second factors"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (target_dir / "exchange-keys").iterdir())
    assert oct((target_dir / "exchange-keys").stat().st_mode & 0o777) == "0o700"
    assert _files(target_dir / "models") == _files(node.settings.resolved_models_dir())
    assert done.settings_files["rules_file"].read_bytes() == rules.read_bytes()


def test_a_sqlite_node_restored_from_its_backup_holds_every_row_of_every_table(sqlite_node, tmp_path):
    _round_trip(sqlite_node, sqlite_node.settings.resolved_database_url(), f"sqlite:///{(tmp_path / 'new' / 'avance.db').as_posix()}", tmp_path)


@pytest.mark.postgres
def test_a_postgresql_node_restored_into_a_new_database_holds_every_row_of_every_table(pg_server, tmp_path):
    with scratch_database(pg_server) as source_url, scratch_database(pg_server) as target_url:
        node = make_node(source_url, tmp_path)
        try:
            _round_trip(node, source_url, target_url, tmp_path)
        finally:
            node.engine.dispose()


def test_a_missing_postgresql_tool_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(backups.shutil, "which", lambda name: None)
    monkeypatch.setattr(backups.glob, "glob", lambda pattern: [])
    with pytest.raises(BackupError) as caught:
        backups.pg_tool("pg_dump")
    assert "pg_dump not found" in caught.value.message("en") and "postgresql-client" in caught.value.message("en")


def test_a_backup_taken_while_the_node_lodges_is_consistent(sqlite_node, tmp_path):
    _populate(sqlite_node, lrns=1)
    stop = threading.Event()
    lodged: list[int] = []
    failures: list[BaseException] = []

    def lodge_continuously() -> None:
        try:
            while not stop.is_set():
                lodged.append(lodge_document(sqlite_node, declaration(lrn=f"2026-DKR-{len(lodged) + 100:06d}")))
        except BaseException as exc:  # shown by the assertion below
            failures.append(exc)

    writer = threading.Thread(target=lodge_continuously)
    writer.start()
    try:
        while len(lodged) < 3:  # the writer is lodging when the backup starts ...
            threading.Event().wait(0.01)
        file = tmp_path / "live.avb"
        made = create_backup(sqlite_node.settings, file, PASSPHRASE)
        during = len(lodged)
        threading.Event().wait(0.1)
    finally:
        stop.set()
        writer.join()
    assert not failures
    assert len(lodged) > during  # ... and still lodging after it ended

    target = f"sqlite:///{(tmp_path / 'restored' / 'avance.db').as_posix()}"
    restore_backup(file, PASSPHRASE, database_url=target, data_dir=tmp_path / "restored", models_dir=tmp_path / "restored" / "models")
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            ids = set(conn.execute(select(declarations.c.id)).scalars())
            with_items = set(conn.execute(select(goods_items.c.declaration_id)).scalars())
            with_events = set(conn.execute(select(declaration_events.c.declaration_id)).scalars())
    finally:
        engine.dispose()
    # Each lodging is one transaction: the copy holds whole lodgings, none in part.
    assert ids and ids == with_items == with_events
    assert len(ids) == made.manifest["database"]["tables"]["declarations"]
    assert 1 < len(ids) < 1 + len(lodged)


# --- secrecy and integrity ----------------------------------------------------------------------


def test_a_backup_reveals_nothing_without_its_passphrase(sqlite_node, tmp_path):
    _populate(sqlite_node)
    file = tmp_path / "node.avb"
    create_backup(sqlite_node.settings, file, PASSPHRASE)
    content = file.read_bytes()
    assert b"PRIVATE KEY" not in content and b"2026-DKR-000001" not in content and b"SQLite format" not in content
    with pytest.raises(BackupError) as wrong:
        verify_backup(file, "another passphrase entirely")
    assert wrong.value.code == "backup.error.passphrase"
    with pytest.raises(BackupError) as missing:
        verify_backup(file, None)
    assert missing.value.code == "backup.error.no_passphrase"


def test_a_restore_refuses_a_database_that_is_not_empty_unless_forced(sqlite_node, tmp_path):
    _populate(sqlite_node)
    file = tmp_path / "node.avb"
    create_backup(sqlite_node.settings, file, PASSPHRASE)
    url = sqlite_node.settings.resolved_database_url()
    with pytest.raises(backups.Conflict) as refused:
        restore_backup(file, PASSPHRASE, database_url=url, data_dir=tmp_path / "other", models_dir=tmp_path / "other" / "models")
    assert refused.value.code == "backup.error.target_not_empty"
    assert not (tmp_path / "other" / "exchange-keys").exists()  # nothing restored in part

    other_key = tmp_path / "other" / "exchange-keys" / next((sqlite_node.settings.data_dir / "exchange-keys").iterdir()).name
    other_key.parent.mkdir(parents=True)
    other_key.write_text("another key")
    fresh = f"sqlite:///{(tmp_path / 'fresh.db').as_posix()}"
    with pytest.raises(backups.Conflict) as clobber:
        restore_backup(file, PASSPHRASE, database_url=fresh, data_dir=tmp_path / "other", models_dir=tmp_path / "other" / "models")
    assert clobber.value.code == "backup.error.file_exists"
    assert not (tmp_path / "fresh.db").exists()

    sqlite_node.engine.dispose()
    before = table_digests(url)
    lodge_document(sqlite_node, declaration(lrn="2026-DKR-000999"))  # a change after the backup ...
    restore_backup(file, PASSPHRASE, database_url=url, data_dir=tmp_path / "other", models_dir=tmp_path / "other" / "models", force=True)
    sqlite_node.engine.dispose()
    assert table_digests(url) == before  # ... is gone: the node is as it was backed up
    assert other_key.read_bytes() != b"another key"


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), cut=st.integers(min_value=0), flip=st.integers(min_value=0))
def test_the_sealed_stream_gives_back_what_was_written_and_refuses_any_change(data, cut, flip):
    original = archive.CHUNK_SIZE
    archive.CHUNK_SIZE = 64  # many frames from little data
    try:
        sink = io.BytesIO()
        writer = SealingWriter(sink, PASSPHRASE)
        for start in range(0, len(data), 50):
            writer.write(data[start : start + 50])
        writer.finish()
    finally:
        archive.CHUNK_SIZE = original
    sealed = sink.getvalue()
    reader = OpeningReader(io.BytesIO(sealed), PASSPHRASE)
    assert reader.read() == data and reader.complete

    body = len(writer.header.raw)
    shortened = sealed[: body + cut % (len(sealed) - body)]  # cut anywhere after the header
    flipped = bytearray(sealed)
    flipped[flip % len(sealed)] ^= 0x01
    for damaged in (shortened, bytes(flipped)):
        with pytest.raises(BackupError):
            reader = OpeningReader(io.BytesIO(damaged), PASSPHRASE)
            reader.read()
            reader.drain()


# --- the command line ---------------------------------------------------------------------------


def _program() -> typer.Typer:
    """``avance backup`` and ``avance restore`` as the lead registers them in entrypoints/cli.py."""
    program = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    program.add_typer(backup_app, name="backup")
    program.command("restore")(restore)
    program.command("noop")(lambda: None)  # a root with commands, as the real one
    return program


def avance(*args: str) -> tuple[int, str, str]:
    """The command line in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["avance", *args]
    get_settings.cache_clear()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            run(_program())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    finally:
        sys.argv = argv
        get_settings.cache_clear()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_node(sqlite_node, monkeypatch):
    """An initialised node the command line finds through its settings, in English."""
    _populate(sqlite_node)
    for name in list(os.environ):
        if name.startswith("AVANCE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_DATA_DIR", str(sqlite_node.settings.data_dir))
    monkeypatch.setenv("AVANCE_LANG", "en")
    monkeypatch.chdir(sqlite_node.settings.data_dir)
    return sqlite_node


def test_an_operator_backs_up_verifies_and_restores_a_node_from_the_command_line(cli_node, tmp_path, monkeypatch):
    file = tmp_path / "node.avb"
    code, _, err = avance("backup", str(file))
    assert code == 2 and "AVANCE_BACKUP_PASSPHRASE" in err and "--unencrypted" in err and not file.exists()

    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n")
    code, out, err = avance("backup", str(file), "--passphrase-file", str(secret))
    assert (code, err) == (0, "") and out.startswith(f"Backup written to {file}: sqlite database")
    code, _, err = avance("backup", str(file), "--passphrase-file", str(secret))
    assert code == 2 and "already exists" in err

    monkeypatch.setenv("AVANCE_BACKUP_PASSPHRASE", PASSPHRASE)
    code, out, err = avance("backup", "verify", str(file))
    assert (code, err) == (0, "") and "is sound" in out

    target = tmp_path / "second-site"
    code, out, err = avance("restore", str(file), "--data-dir", str(target))
    assert (code, err) == (0, ""), err
    assert "counts checked" in out
    assert table_digests(f"sqlite:///{(target / 'avance.db').as_posix()}") == table_digests(cli_node.settings.resolved_database_url())
    code, _, err = avance("restore", str(file), "--data-dir", str(target))
    assert code == 2 and "is not empty" in err and "--force" in err


def test_a_damaged_or_cut_backup_fails_verification_with_one_line(cli_node, tmp_path, monkeypatch):
    monkeypatch.setenv("AVANCE_BACKUP_PASSPHRASE", PASSPHRASE)
    file = tmp_path / "node.avb"
    assert avance("backup", str(file))[0] == 0
    content = file.read_bytes()

    damaged = tmp_path / "damaged.avb"
    middle = bytearray(content)
    middle[len(middle) // 2] ^= 0xFF
    damaged.write_bytes(bytes(middle))
    cut = tmp_path / "cut.avb"
    cut.write_bytes(content[: len(content) - 100])
    for bad, words in ((damaged, "damaged"), (cut, "cut short")):
        code, out, err = avance("backup", "verify", str(bad))
        assert code == 2 and out == "" and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err

    monkeypatch.setenv("AVANCE_BACKUP_PASSPHRASE", "not the right passphrase")
    code, _, err = avance("backup", "verify", str(file))
    assert code == 2 and "Wrong passphrase" in err


def test_an_unencrypted_backup_is_written_only_when_asked_and_its_digests_still_guard_it(cli_node, tmp_path):
    file = tmp_path / "plain.avb"
    code, out, _ = avance("backup", str(file), "--unencrypted")
    assert code == 0 and "not encrypted" in out
    assert avance("backup", "verify", str(file))[0] == 0

    content = bytearray(file.read_bytes())
    at = content.index(b"SQLite format 3") + 4096 + 100  # inside the database member, past its header page
    content[at] ^= 0x01
    file.write_bytes(bytes(content))
    code, _, err = avance("backup", "verify", str(file))
    assert code == 2 and "does not match its SHA-256 digest" in err and "database/avance.sqlite" in err


def test_a_settings_file_the_node_names_must_exist_to_be_backed_up(sqlite_node, tmp_path):
    settings = Settings(data_dir=sqlite_node.settings.data_dir, database_url=sqlite_node.settings.database_url, policy_file=tmp_path / "gone.yaml")
    with pytest.raises(BackupError) as caught:
        create_backup(settings, tmp_path / "x.avb", PASSPHRASE)
    assert "AVANCE_POLICY_FILE" in caught.value.message("en")
    assert not (tmp_path / "x.avb").exists() and not list(tmp_path.glob(".avance-backup-*"))


def test_every_message_of_backup_and_restore_is_in_both_languages():
    used: set[str] = set()
    for path in (ROOT / "src" / "avance" / "operations").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        used |= {f"cli.help.{key}" for key in re.findall(r'\bH\("([a-z_.]+)"\)', source)}
        source = re.sub(r'\bH\("[a-z_.]+"\)', "", source)
        used |= set(re.findall(r'"((?:backup|restore)\.[a-z_]+(?:\.[a-z_]+)*)"', source))
    assert {"backup.error.passphrase", "cli.help.restore.into"} <= used
    assert used <= set(catalog("fr")) and used <= set(catalog("en")), used - set(catalog("en"))
