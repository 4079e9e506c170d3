"""Files an administration edits (criteria, column mappings): read YAML, check it, say where it is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    """A data file cannot be used; ``detail`` names the field and the problem."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail


def load_yaml_model(model: type[M], path: Path | None = None, *, text: str | None = None, where: str | None = None) -> M:
    """Parse the YAML of ``path`` (or ``text``) as ``model``; DataFileError on the first problem."""
    where = where or str(path)
    try:
        data = yaml.safe_load(text if text is not None else path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    except OSError as exc:
        raise DataFileError(where, exc.strerror or str(exc)) from None
    except yaml.YAMLError as exc:
        raise DataFileError(where, f"not valid YAML ({type(exc).__name__})") from None
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "/".join(str(p) for p in first["loc"])
        raise DataFileError(where, f"{loc}: {first['msg']}") from None
