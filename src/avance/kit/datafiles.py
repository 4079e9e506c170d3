"""Files an administration edits (duty profiles, criteria, column mappings): one way to read
their YAML, exactly (numbers as ``Decimal``, never ``float``), and to say where a file is wrong."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    """A data file cannot be used; ``detail`` names the field and the problem."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(path, detail)
        self.path = path
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


class _ExactLoader(yaml.SafeLoader):
    """YAML safe loader that reads decimal numbers as ``Decimal`` and refuses impossible dates."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node))
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a decimal number", node.start_mark)
    return value


def _construct_date(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        message = f"{node.value!r} is not a valid date"
        raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_ExactLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_date)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def read_yaml(path: Path | None = None, *, text: str | None = None, where: str | None = None, error: type[DataFileError] = DataFileError) -> dict[str, Any]:
    """The mapping held by a YAML file (or ``text``); ``error`` names the file and the problem."""
    where = where or str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")  # type: ignore[union-attr]
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise error(where, f"cannot read the file ({reason})") from None
    try:
        data = yaml.load(text, Loader=_ExactLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(where, f"not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(where, "the file must hold a mapping of fields")
    return data


def load_yaml_model(model: type[M], path: Path | None = None, *, text: str | None = None, where: str | None = None) -> M:
    """Parse the YAML of ``path`` (or ``text``) as ``model``; DataFileError on the first problem."""
    where = where or str(path)
    data = read_yaml(path, text=text, where=where)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "/".join(str(p) for p in first["loc"])
        raise DataFileError(where, f"{loc}: {first['msg']}") from None
