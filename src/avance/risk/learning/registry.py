"""The learned models installed on a node, and which one is in use.

Models live in ``Settings.resolved_models_dir()`` (default ``DATA_DIR/models``)::

    models/
      20260601T043759Z-3fa2b1c4/     one directory per installed model (never changed afterwards)
        model.json  fraud.lgb  ...
      20260608T050102Z-9b0e77d1/
      CURRENT                        text file: the name of the directory in use

``install`` saves a model into a new directory named after the UTC time and a short hash of its
files, then points ``CURRENT`` at it atomically (a temporary file renamed over the old one), so
a process reading ``CURRENT`` sees the old model or the new one, never half of either. Earlier
models stay: ``use`` points ``CURRENT`` back at one of them (rollback). The API reads the
current model when it starts: restart it after ``install`` or ``use``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from avance.kit.errors import ConfigurationError, NotFound

CURRENT = "CURRENT"
_NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


class SavableModel(Protocol):
    metadata: dict[str, Any]

    def save(self, directory: Path) -> None: ...


@dataclass(frozen=True)
class InstalledModel:
    """One installed model: its directory name, path, metadata and whether it is in use."""

    name: str
    path: Path
    installed_at: datetime
    current: bool
    metadata: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "name": self.name,
            "current": self.current,
            "installed_at": self.installed_at.isoformat(),
            "training_window": meta.get("training_window"),
            "rows": meta.get("rows"),
            "fraud_rate": meta.get("fraud_rate"),
            "mapping": meta.get("mapping"),
            "metrics": meta.get("metrics"),
        }


def _files_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:8]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _point_current(models_dir: Path, name: str) -> None:
    tmp = models_dir / f".{CURRENT}.{uuid.uuid4().hex}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, models_dir / CURRENT)
    _fsync_dir(models_dir)


def install(model: SavableModel, models_dir: Path, *, now: datetime | None = None, make_current: bool = True) -> Path:
    """Save ``model`` as a new installed model and (by default) make it the current one."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    staging = models_dir / f".incoming-{uuid.uuid4().hex}"
    try:
        model.save(staging)
        name = f"{now:%Y%m%dT%H%M%SZ}-{_files_hash(staging)}"
        final = models_dir / name
        if final.exists():  # the very same files installed in the same second: keep the first copy
            shutil.rmtree(staging)
        else:
            os.rename(staging, final)
            _fsync_dir(models_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if make_current:
        _point_current(models_dir, name)
    return final


def current_name(models_dir: Path) -> str | None:
    """Name of the model in use, or None when none was installed."""
    try:
        text = (Path(models_dir) / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise ConfigurationError("evaluation.registry.current_unreadable", path=str(Path(models_dir) / CURRENT)) from None
    return text or None


def current_model_dir(models_dir: Path) -> Path | None:
    """Directory of the model in use, or None when no model was installed.

    A ``CURRENT`` that names no installed model is a configuration error (someone removed the
    directory): the node says so rather than silently running without its model.
    """
    name = current_name(models_dir)
    if name is None:
        return None
    path = Path(models_dir) / name
    if not _NAME.match(name) or not path.is_dir():
        raise ConfigurationError("evaluation.registry.current_missing", name=name, path=str(models_dir))
    return path


def read_metadata(directory: Path) -> dict[str, Any]:
    """The metadata saved with a model (``model.json``), without loading the model itself."""
    try:
        with (Path(directory) / "model.json").open(encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        return data["metadata"]
    return {}


def _installed_at(name: str) -> datetime:
    return datetime.strptime(name.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def list_models(models_dir: Path) -> list[InstalledModel]:
    """Installed models, oldest first."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    current = current_name(models_dir)
    found = []
    for path in sorted(models_dir.iterdir()):
        if path.is_dir() and _NAME.match(path.name):
            found.append(InstalledModel(path.name, path, _installed_at(path.name), path.name == current, read_metadata(path)))
    return found


def use(models_dir: Path, name: str) -> Path:
    """Make the installed model ``name`` the current one (e.g. to roll back); return its path."""
    models_dir = Path(models_dir)
    path = models_dir / name
    if not _NAME.match(name) or not path.is_dir():
        raise NotFound("evaluation.registry.unknown", name=name, path=str(models_dir))
    _point_current(models_dir, name)
    return path
