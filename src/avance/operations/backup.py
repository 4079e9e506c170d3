"""Back up a node and restore it: its database and the files it cannot run without.

A backup is one file (``avance.operations.archive``: encrypted unless asked otherwise) holding a
tar archive whose members are:

| member | what | restored into |
|---|---|---|
| ``manifest.json`` | first member: what the backup holds (below) | — |
| ``database/avance.sqlite`` | SQLite: a copy made with the online backup API | the target database file |
| ``database/avance.pgdump`` | PostgreSQL: ``pg_dump -Fc`` | the target database, by ``pg_restore`` |
| ``keys/<file>`` | the node's private keys (``DATA_DIR/exchange-keys``: exchange signing keys, the second-factor sealing key) | ``DATA_DIR/exchange-keys`` (0700, files 0600) |
| ``models/<path>`` | the installed learned models and ``CURRENT`` | the models folder |
| ``settings/<setting>/<path>`` | the files the node's settings name (rules, policy, schedule, offices, the tariff folder, ``.env``) | ``DATA_DIR/restored-settings/<setting>/`` |

The node secret, the selection secret, users, partners and public keys live in the database
(``node_settings`` and the capability tables): the dump holds them.

``manifest.json``::

    {"format": 1, "created_at": "2026-...Z", "avance_version": "0.1.0",
     "node": {"country": "SN", "node_id": "SN-AVANCE", "host": "..."},
     "database": {"kind": "sqlite" | "postgresql", "member": "database/...", "revision": "0018",
                  "tables": {"<table>": <rows>, ...}},
     "settings": {"<setting>": "<path on the backed-up machine>", ...},
     "members": [{"name": "...", "size": <bytes>, "sha256": "<hex>"}, ...]}

The database copy is consistent: SQLite's backup API copies every page in one step inside one
read transaction (writers keep writing to the WAL meanwhile); ``pg_dump`` reads one snapshot,
the very one the row counts are taken in (``pg_export_snapshot`` and ``--snapshot``). A restore
checks every member's digest and the dump before it touches the target, and the restored row
counts against the manifest afterwards.
"""

from __future__ import annotations

import getpass
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from avance import __version__
from avance.exchange.keys import KEY_DIR, NODE_ID_KEY
from avance.kit.errors import Conflict
from avance.kit.settings import Settings
from avance.operations.archive import MIN_PASSPHRASE, BackupError, OpeningReader, SealingWriter
from avance.store import node_settings
from avance.store.engine import make_engine

MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/avance.sqlite"
PG_MEMBER = "database/avance.pgdump"
RESTORED_SETTINGS = "restored-settings"
SETTING_FILES = ("rules_file", "policy_file", "schedule_file", "offices_file")
"""The settings naming a file the node reads at start."""
TARIFF_DIR_ENV = "AVANCE_TARIFF_DIR"
_COPY = 1 << 20
_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\]+$")


# --- what the commands report ---------------------------------------------------------------------


@dataclass
class Member:
    name: str
    size: int
    sha256: str


@dataclass
class Outcome:
    """What a backup, a verification or a restore did, for the command's summary line."""

    path: Path
    kind: str
    members: int
    tables: int
    rows: int
    size: int
    seconds: float
    manifest: dict[str, Any] = field(default_factory=dict)
    settings_files: dict[str, Path] = field(default_factory=dict)
    """Restore: where each settings file was put, by setting (``rules_file`` ...)."""


# --- the database: where it is and which tools read it ----------------------------------------------


def database_kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise BackupError("backup.error.database_kind", kind=backend)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("backup.error.database_kind", kind="sqlite :memory:")
    return Path(database)


def pg_tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on PATH, else the newest under /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parts[-3]
        return tuple(int(p) for p in re.findall(r"\d+", part)) or (0,)

    candidates.sort(key=version, reverse=True)
    if candidates:
        return candidates[0]
    raise BackupError("backup.error.no_pg_tool", tool=name)


def pg_connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI for the PostgreSQL tools and their environment: the password goes in
    ``PGPASSWORD``, never on a command line other users of the machine can read."""
    parsed = make_url(url)
    netloc = ""
    if parsed.username:
        netloc += quote(parsed.username, safe="") + "@"
    if parsed.host:
        netloc += f"[{parsed.host}]" if ":" in parsed.host else quote(parsed.host, safe="")
    if parsed.port:
        netloc += f":{parsed.port}"
    query = "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in parsed.query.items() if isinstance(v, str))
    uri = f"postgresql://{netloc}/{quote(parsed.database or '', safe='')}" + (f"?{query}" if query else "")
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return uri, env


def _run_tool(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=None)
    except OSError as exc:
        raise BackupError("backup.error.tool_failed", tool=Path(args[0]).name, detail=exc.strerror or str(exc)) from None
    if done.returncode != 0:
        raise BackupError("backup.error.tool_failed", tool=Path(args[0]).name, detail=_last_line(done.stderr))
    return done


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return " ".join(lines[-3:])[:500] if lines else "?"


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the database (every schema-qualified name PostgreSQL shows by default)."""
    with engine.connect() as conn:
        return _counts(conn)


def _counts(conn: Any) -> dict[str, int]:
    names = inspect(conn).get_table_names()
    preparer = conn.dialect.identifier_preparer
    return {name: int(conn.execute(text(f"SELECT count(*) FROM {preparer.quote(name)}")).scalar_one()) for name in sorted(names)}


def _sqlite_counts(db: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: int(db.execute(f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"').fetchone()[0]) for name in names}


# --- the backup ---------------------------------------------------------------------------------


@dataclass
class _Staged:
    """A file going into the archive: its member name, where its bytes are, and their digest."""

    name: str
    path: Path
    size: int
    sha256: str


def _digest(path: Path) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(_COPY):
            hasher.update(block)
            size += len(block)
    return size, hasher.hexdigest()


def _stage_copy(source: Path, staging: Path, name: str) -> _Staged:
    """Copy ``source`` into the staging folder: the archive holds the bytes its digest is of,
    even if the file changes while the backup is written."""
    target = staging / "files" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        while block := src.read(_COPY):
            hasher.update(block)
            dst.write(block)
            size += len(block)
    return _Staged(name, target, size, hasher.hexdigest())


def _tree(root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under ``root`` with their relative POSIX paths (symbolic links are followed
    for files, not for folders), in a stable order."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file():
                yield path, path.relative_to(root).as_posix()


def _dump_sqlite(url: str, staging: Path) -> tuple[_Staged, dict[str, int]]:
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupError("backup.error.no_database", path=str(source_path))
    target = staging / "avance.sqlite"
    source = sqlite3.connect(str(source_path), timeout=30)
    try:
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)  # every page in one step: one read transaction, one consistent state
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            counts = _sqlite_counts(copy)
        finally:
            copy.close()
    finally:
        source.close()
    size, sha = _digest(target)
    return _Staged(SQLITE_MEMBER, target, size, sha), counts


def _dump_postgresql(url: str, engine: Engine, staging: Path) -> tuple[_Staged, dict[str, int]]:
    tool = pg_tool("pg_dump")
    uri, env = pg_connection(url)
    target = staging / "avance.pgdump"
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # pg_dump reads the snapshot this transaction exports: the counts and the dump agree.
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            counts = _counts(conn)
            _run_tool([tool, "--format=custom", "--compress=6", f"--snapshot={snapshot}", f"--file={target}", f"--dbname={uri}"], env)
    size, sha = _digest(target)
    return _Staged(PG_MEMBER, target, size, sha), counts


def _setting_sources(settings: Settings, cwd: Path) -> list[tuple[str, Path]]:
    """The files and folders the node's settings name, by setting; a named one that is missing is
    an error (the backup would not restore the node as it runs)."""
    found: list[tuple[str, Path]] = []
    for setting in SETTING_FILES:
        value = getattr(settings, setting, None)
        if value is None:
            continue
        path = Path(value)
        if not path.is_file():
            raise BackupError("backup.error.settings_file_missing", setting=f"AVANCE_{setting.upper()}", path=str(path))
        found.append((setting, path))
    tariff_dir = os.environ.get(TARIFF_DIR_ENV)
    if tariff_dir:
        path = Path(tariff_dir)
        if not path.is_dir():
            raise BackupError("backup.error.settings_file_missing", setting=TARIFF_DIR_ENV, path=str(path))
        found.append(("tariff_dir", path))
    env_file = cwd / ".env"
    if env_file.is_file():
        found.append(("env", env_file))
    return found


def _settings_view(settings: Settings) -> dict[str, Any]:
    """The node's settings as the manifest records them (the database password hidden)."""
    view: dict[str, Any] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if name == "database_url":
            value = make_url(str(value)).render_as_string(hide_password=True)
        view[name] = str(value)
    if os.environ.get(TARIFF_DIR_ENV):
        view["tariff_dir"] = os.environ[TARIFF_DIR_ENV]
    return view


def _node_facts(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        country = node_settings.read_country(conn)
        node_id = node_settings.get(conn, NODE_ID_KEY)
        try:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            revision = None
    return {"country": country, "node_id": node_id, "revision": revision}


def create_backup(
    settings: Settings,
    target: Path,
    passphrase: str | None,
    *,
    force: bool = False,
    cwd: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Write a backup of the node of ``settings`` to ``target``; ``passphrase`` None writes it
    unencrypted (``--unencrypted``). ``target`` appears complete or not at all."""
    started = clock()
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise BackupError("backup.error.short_passphrase", minimum=MIN_PASSPHRASE)
    target = Path(target)
    if target.exists() and not force:
        raise Conflict("backup.error.exists", path=str(target))
    if not target.parent.is_dir():
        raise BackupError("backup.error.no_folder", path=str(target.parent))
    url = settings.resolved_database_url()
    kind = database_kind(url)
    sources = _setting_sources(settings, cwd or Path.cwd())
    engine = make_engine(url)
    try:
        facts = _node_facts(engine)
        with tempfile.TemporaryDirectory(prefix=".avance-backup-", dir=target.parent) as tmp:
            staging = Path(tmp)
            os.chmod(staging, 0o700)
            if kind == "sqlite":
                database, counts = _dump_sqlite(url, staging)
            else:
                database, counts = _dump_postgresql(url, engine, staging)
            staged = [database]
            key_dir = Path(settings.data_dir) / KEY_DIR
            if key_dir.is_dir():
                staged += [_stage_copy(path, staging, f"keys/{rel}") for path, rel in _tree(key_dir)]
            models_dir = Path(settings.resolved_models_dir())
            if models_dir.is_dir():
                staged += [_stage_copy(path, staging, f"models/{rel}") for path, rel in _tree(models_dir) if not Path(rel).name.startswith(".")]
            for setting, path in sources:
                if path.is_dir():
                    staged += [_stage_copy(p, staging, f"settings/{setting}/{rel}") for p, rel in _tree(path)]
                else:
                    staged.append(_stage_copy(path, staging, f"settings/{setting}/{path.name}"))
            manifest = {
                "format": 1,
                "created_at": datetime.now(timezone.utc).isoformat(),
                "avance_version": __version__,
                "node": {"country": facts["country"], "node_id": facts["node_id"], "host": socket.gethostname(), "user": _os_user()},
                "database": {"kind": kind, "member": database.name, "revision": facts["revision"], "tables": counts},
                "settings": {setting: str(path.resolve()) for setting, path in sources},
                "node_settings": _settings_view(settings),
                "members": [{"name": s.name, "size": s.size, "sha256": s.sha256} for s in staged],
            }
            partial = staging / "archive.partial"
            _write_archive(partial, passphrase, manifest, staged)
            os.replace(partial, target)
    finally:
        engine.dispose()
    return Outcome(target, kind, len(staged), len(counts), sum(counts.values()), target.stat().st_size, clock() - started, manifest)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, as in a bare container
        return "?"


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(time.time())
    info.type = tarfile.REGTYPE
    return info


def _write_archive(path: Path, passphrase: str | None, manifest: dict[str, Any], staged: list[_Staged]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sealed = SealingWriter(sink, passphrase)
        with tarfile.open(fileobj=sealed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
            tar.addfile(_tar_info(MANIFEST, len(body)), _BytesReader(body))
            for item in staged:
                with open(item.path, "rb") as handle:
                    tar.addfile(_tar_info(item.name, item.size), handle)
        sealed.finish()
        sink.flush()
        os.fsync(sink.fileno())


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._at + n
        chunk = self._data[self._at : end]
        self._at += len(chunk)
        return chunk


# --- reading a backup ---------------------------------------------------------------------------


def _safe_member(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        bool(parts)
        and not name.startswith("/")
        and all(part not in ("", ".", "..") and _NAME.match(part) for part in parts)
        and (name in (MANIFEST, SQLITE_MEMBER, PG_MEMBER) or (parts[0] in ("keys", "models") and len(parts) >= 2) or (parts[0] == "settings" and len(parts) >= 3))
    )


@contextmanager
def _open_backup(path: Path, passphrase: str | None) -> Iterator[tuple[OpeningReader, tarfile.TarFile]]:
    path = Path(path)
    if not path.is_file():
        raise BackupError("backup.error.no_file", path=str(path))
    with open(path, "rb") as source:
        reader = OpeningReader(source, passphrase)
        try:
            tar = tarfile.open(fileobj=reader, mode="r|")
        except tarfile.TarError:
            raise BackupError("backup.error.corrupt", detail="tar") from None
        with tar:
            yield reader, tar


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        first = tar.next()
    except tarfile.TarError:
        raise BackupError("backup.error.corrupt", detail="tar") from None
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > 16 << 20:
        raise BackupError("backup.error.corrupt", detail=MANIFEST)
    handle = tar.extractfile(first)
    assert handle is not None  # a regular file, checked above
    try:
        manifest = json.loads(handle.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BackupError("backup.error.corrupt", detail=MANIFEST) from None
    if not isinstance(manifest, dict) or manifest.get("format") != 1:
        raise BackupError("backup.error.format", format=manifest.get("format") if isinstance(manifest, dict) else "?", expected=1)
    try:
        members = {m["name"]: Member(str(m["name"]), int(m["size"]), str(m["sha256"])) for m in manifest["members"]}
        database = manifest["database"]
        if database["kind"] not in ("sqlite", "postgresql") or database["member"] not in members:
            raise KeyError("database")
        tables = {str(k): int(v) for k, v in database["tables"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise BackupError("backup.error.corrupt", detail=MANIFEST) from None
    if not all(_safe_member(name) for name in members):
        raise BackupError("backup.error.corrupt", detail=MANIFEST)
    manifest["_members"] = members
    manifest["_tables"] = tables
    return manifest


def _walk_members(
    reader: OpeningReader,
    tar: tarfile.TarFile,
    manifest: dict[str, Any],
    keep: Callable[[str], Path | None],
) -> dict[str, Path]:
    """Read every member after the manifest, checking it against the manifest; the members for
    which ``keep`` gives a path are written there. Every member listed must be there, once."""
    expected: dict[str, Member] = manifest["_members"]
    seen: set[str] = set()
    kept: dict[str, Path] = {}
    try:
        for index, info in enumerate(tar):
            name = info.name
            if index == 0 and name == MANIFEST:  # read already (the iteration starts over)
                continue
            if name not in expected or name in seen or not info.isfile():
                raise BackupError("backup.error.unexpected_member", member=name)
            seen.add(name)
            handle = tar.extractfile(info)
            assert handle is not None  # a regular file, checked above
            destination = keep(name)
            hasher = hashlib.sha256()
            size = 0
            sink: BinaryIO | None = None
            if destination is not None:
                destination.parent.mkdir(parents=True, exist_ok=True)
                sink = open(destination, "wb")
            try:
                while block := handle.read(_COPY):
                    hasher.update(block)
                    size += len(block)
                    if sink is not None:
                        sink.write(block)
            finally:
                if sink is not None:
                    sink.close()
            if size != expected[name].size or hasher.hexdigest() != expected[name].sha256:
                raise BackupError("backup.error.digest", member=name)
            if destination is not None:
                kept[name] = destination
    except tarfile.TarError:
        raise BackupError("backup.error.truncated") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError("backup.error.missing_member", member=missing[0])
    reader.drain()
    if not reader.complete:
        raise BackupError("backup.error.truncated")
    return kept


def _check_sqlite_dump(path: Path, tables: dict[str, int]) -> None:
    db = sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True)
    try:
        result = [r[0] for r in db.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError("backup.error.database_damaged", detail="; ".join(str(r) for r in result[:3]))
        counts = _sqlite_counts(db)
    except sqlite3.DatabaseError as exc:
        raise BackupError("backup.error.database_damaged", detail=str(exc)) from None
    finally:
        db.close()
    if counts != tables:
        raise BackupError("backup.error.database_damaged", detail="row counts")


def _check_pg_dump(path: Path) -> None:
    listing = _run_tool([pg_tool("pg_restore"), "--list", str(path)])
    if b"TABLE DATA" not in listing.stdout:
        raise BackupError("backup.error.database_damaged", detail="pg_restore --list")


def verify_backup(path: Path, passphrase: str | None, *, work_dir: Path | None = None, clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Decrypt the backup, check every member's digest and that its database dump can be read."""
    started = clock()
    with tempfile.TemporaryDirectory(prefix=".avance-verify-", dir=work_dir) as tmp:
        staging = Path(tmp)
        os.chmod(staging, 0o700)
        with _open_backup(path, passphrase) as (reader, tar):
            manifest = _read_manifest(tar)
            database = manifest["database"]
            kept = _walk_members(reader, tar, manifest, lambda name: staging / "database" if name == database["member"] else None)
        if database["kind"] == "sqlite":
            _check_sqlite_dump(kept[database["member"]], manifest["_tables"])
        else:
            _check_pg_dump(kept[database["member"]])
    tables = manifest["_tables"]
    return Outcome(Path(path), database["kind"], len(manifest["_members"]), len(tables), sum(tables.values()), Path(path).stat().st_size, clock() - started, manifest)


# --- restoring ----------------------------------------------------------------------------------


def _destination(name: str, data_dir: Path, models_dir: Path) -> Path | None:
    parts = PurePosixPath(name).parts
    if parts[0] == "keys":
        return data_dir.joinpath(KEY_DIR, *parts[1:])
    if parts[0] == "models":
        return models_dir.joinpath(*parts[1:])
    if parts[0] == "settings":
        return data_dir.joinpath(RESTORED_SETTINGS, *parts[1:])
    return None


def _same_content(path: Path, member: Member) -> bool:
    size, sha = _digest(path)
    return size == member.size and sha == member.sha256


def _sqlite_is_empty(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    db = sqlite3.connect(str(path), timeout=30)
    try:
        return db.execute("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view')").fetchone()[0] == 0
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()


def _pg_is_empty(engine: Engine) -> bool:
    query = text(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'"
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one() == 0


def _restore_sqlite(dump: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.restoring-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as sink, open(dump, "rb") as source:
            shutil.copyfileobj(source, sink, _COPY)
            sink.flush()
            os.fsync(sink.fileno())
        # A journal left beside the old file would be replayed into the restored one.
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _restore_postgresql(dump: Path, url: str, clean: bool) -> None:
    uri, env = pg_connection(url)
    args = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", f"--dbname={uri}"]
    if clean:
        args += ["--clean", "--if-exists"]
    _run_tool([*args, str(dump)], env)


def _write_file(source: Path, destination: Path, private: bool) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if private:
        os.chmod(destination.parent, 0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as sink, open(source, "rb") as handle:
            shutil.copyfileobj(handle, sink, _COPY)
        os.chmod(tmp_name, 0o600 if private else 0o644)
        os.replace(tmp_name, destination)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def restore_backup(
    path: Path,
    passphrase: str | None,
    *,
    database_url: str,
    data_dir: Path,
    models_dir: Path,
    force: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Restore a backup into the database ``database_url`` (new or empty unless ``force``) and its
    files into ``data_dir`` and ``models_dir``. Everything is checked before the target is touched:
    the members' digests, the dump, the target's emptiness, files that would be replaced."""
    started = clock()
    kind = database_kind(database_url)
    data_dir, models_dir = Path(data_dir), Path(models_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".avance-restore-", dir=data_dir) as tmp:
        staging = Path(tmp)
        os.chmod(staging, 0o700)
        with _open_backup(path, passphrase) as (reader, tar):
            manifest = _read_manifest(tar)
            database = manifest["database"]
            if database["kind"] != kind:
                raise BackupError("backup.error.kind_mismatch", backup=database["kind"], target=kind)
            engine = make_engine(database_url) if kind == "postgresql" else None
            try:
                if kind == "sqlite":
                    target = sqlite_path(database_url)
                    empty = _sqlite_is_empty(target)
                else:
                    assert engine is not None
                    empty = _pg_is_empty(engine)
            except SQLAlchemyError as exc:
                raise BackupError("backup.error.target_unreachable", detail=" ".join(str(exc).split())[:300]) from None
            finally:
                if engine is not None:
                    engine.dispose()
            shown_url = make_url(database_url).render_as_string(hide_password=True)
            if not empty and not force:
                raise Conflict("backup.error.target_not_empty", url=shown_url)
            members: dict[str, Member] = manifest["_members"]
            for name, member in members.items():
                destination = _destination(name, data_dir, models_dir)
                if destination is not None and destination.exists() and not force and not _same_content(destination, member):
                    raise Conflict("backup.error.file_exists", path=str(destination))
            counter = iter(range(1 << 30))
            kept = _walk_members(reader, tar, manifest, lambda name: staging / f"{next(counter)}")
        dump = kept[database["member"]]
        if kind == "sqlite":
            _check_sqlite_dump(dump, manifest["_tables"])
            _restore_sqlite(dump, sqlite_path(database_url))
        else:
            _check_pg_dump(dump)
            _restore_postgresql(dump, database_url, clean=not empty)
        settings_files: dict[str, Path] = {}
        for name, staged in kept.items():
            destination = _destination(name, data_dir, models_dir)
            if destination is None:
                continue
            _write_file(staged, destination, private=name.startswith("keys/") or name.startswith("settings/"))
            parts = PurePosixPath(name).parts
            if parts[0] == "settings":
                settings_files[parts[1]] = destination if len(parts) == 3 and parts[1] != "tariff_dir" else data_dir / RESTORED_SETTINGS / parts[1]
    engine = make_engine(database_url)
    try:
        counts = table_counts(engine)
    finally:
        engine.dispose()
    expected = manifest["_tables"]
    wrong = sorted(name for name in expected if counts.get(name) != expected[name])
    if wrong:
        raise BackupError("backup.error.restore_mismatch", table=wrong[0], expected=expected[wrong[0]], found=counts.get(wrong[0], 0))
    return Outcome(Path(path), kind, len(members), len(expected), sum(expected.values()), Path(path).stat().st_size, clock() - started, manifest, settings_files)
