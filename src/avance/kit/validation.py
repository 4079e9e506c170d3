"""Structural validation shared by every inbound document: Pydantic errors become ``Issue``s
with JSON pointers and catalog keys, so that the API and the CLI report them the same way."""

from __future__ import annotations

from typing import Any, Iterable, TypeVar

from pydantic import BaseModel, ValidationError

from avance.kit.errors import Issue, ValidationFailed

M = TypeVar("M", bound=BaseModel)

# Pydantic error types that have their own message in the catalogs (key "schema.<type>").
KNOWN_TYPES = frozenset(
    {
        "missing",
        "extra_forbidden",
        "string_type",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "int_type",
        "int_parsing",
        "int_from_float",
        "decimal_type",
        "decimal_parsing",
        "decimal_max_digits",
        "decimal_max_places",
        "decimal_whole_digits",
        "finite_number",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "too_short",
        "too_long",
        "list_type",
        "model_type",
        "model_attributes_type",
        "dict_type",
        "datetime_type",
        "datetime_parsing",
        "datetime_from_date_parsing",
        "timezone_aware",
        "date_parsing",
        "date_from_datetime_parsing",
        "literal_error",
        "enum",
        "bool_type",
        "bool_parsing",
        "json_invalid",
        "json_type",
        "value_error",
    }
)

_PARAM_KEYS = ("min_length", "max_length", "pattern", "expected", "gt", "ge", "lt", "le", "max_digits", "decimal_places", "whole_digits")


def pointer(loc: Iterable[Any]) -> str:
    """RFC 6901 JSON pointer of a Pydantic location."""
    parts = []
    for part in loc:
        text = str(part).replace("~", "~0").replace("/", "~1")
        parts.append(text)
    return "".join("/" + p for p in parts)


def _choices(expected: str) -> list[str]:
    """Pydantic's English list of allowed values ("'a', 'b' or 'c'") as the values themselves, for
    the catalogs to show in the caller's language."""
    head, _, last = expected.rpartition(" or ")
    return [*(v for v in head.split(", ") if v), last] if head else [expected]


def issues_from_errors(errors: Iterable[dict[str, Any]], *, strip_prefix: tuple[str, ...] = ()) -> list[Issue]:
    """Turn Pydantic (or FastAPI) error dicts into issues; ``strip_prefix`` drops e.g. ``("body",)``."""
    issues: list[Issue] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if strip_prefix and loc[: len(strip_prefix)] == strip_prefix:
            loc = loc[len(strip_prefix) :]
        kind = error.get("type", "value_error")
        if kind == "json_invalid":
            loc = ()  # the position in the text is not a JSON pointer
        # Pydantic adds the tag of a function validator or a union member to the location.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        ctx = error.get("ctx") or {}
        params = {k: ctx[k] for k in _PARAM_KEYS if k in ctx}
        if kind == "value_error" and "error" in ctx:
            params["reason"] = str(ctx["error"])
        if kind in ("literal_error", "enum") and isinstance(params.get("expected"), str):
            params["expected"] = _choices(params["expected"])
        code = f"schema.{kind}" if kind in KNOWN_TYPES else "schema.invalid"
        issues.append(Issue(pointer(loc), code, params))
    return issues


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` (a dict or a JSON text) as ``model``; raise ValidationFailed listing every error."""
    try:
        if isinstance(data, (str, bytes, bytearray)):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(issues_from_errors(exc.errors(include_url=False, include_input=False))) from None
