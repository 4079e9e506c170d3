"""Column mappings: how an administration's own extract (ASYCUDA exports differ from country to
country) becomes Avance declarations, without code. See docs/import.md for the format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avance.kit.datafiles import load_yaml_model


class Source(BaseModel):
    """Where one target field's value comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str | None = None
    value: Any = None  # a constant
    default: Any = None  # when the cell is empty
    map: dict[str, Any] | None = None  # code translation, e.g. {"1": "IM"}
    split: str | None = None  # a cell holding several values
    format: str | None = None  # strptime format of a date or datetime cell
    type: Literal["text", "number", "integer", "date", "datetime", "boolean"] = "text"
    unmapped: Literal["keep", "error"] = "keep"

    @model_validator(mode="after")
    def _one_source(self) -> "Source":
        if self.column is None and self.value is None:
            raise ValueError("give 'column' or 'value'")
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["csv", "jsonl"] | None = None
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    decimal_separator: Literal[".", ","] = "."
    group_by: list[str] = Field(default_factory=list, description="Columns identifying one declaration")
    registration_date: Source | None = None
    computed: list[Literal["goods_item_quantity", "invoice_amount", "sequence", "total_package_quantity"]] = Field(default_factory=list)
    fields: dict[str, Source]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("group_by"), str):
                data["group_by"] = [data["group_by"]]
            if isinstance(data.get("registration_date"), str):
                data["registration_date"] = {"column": data["registration_date"], "type": "date"}
            fields = data.get("fields")
            if isinstance(fields, dict):
                data["fields"] = {k: ({"column": v} if isinstance(v, str) else v) for k, v in fields.items()}
        return data

    @model_validator(mode="after")
    def _paths(self) -> "Mapping":
        for path in self.fields:
            parts = path.split(".")
            if any(not p or p.count("[]") > 1 or ("[]" in p and not p.endswith("[]")) for p in parts):
                raise ValueError(f"bad field path {path!r}")
            if sum(p.endswith("[]") for p in parts) > 1:
                raise ValueError(f"only one list level per path: {path!r}")
        return self




class CellError(ValueError):
    """A cell that cannot be read as its mapping says; ``column`` names it."""

    def __init__(self, column: str, value: str, expected: str) -> None:
        super().__init__(column, value, expected)
        self.column = column
        self.value = value
        self.expected = expected


def load_mapping(path: Path) -> Mapping:
    return load_yaml_model(Mapping, path)


@dataclass
class Applier:
    """Turns the rows of one declaration into the nested document the API accepts."""

    mapping: Mapping
    _declaration_fields: list[tuple[list[str], Source]] = field(init=False)
    _item_fields: list[tuple[list[str], Source]] = field(init=False)

    def __post_init__(self) -> None:
        self._declaration_fields, self._item_fields = [], []
        for path, source in self.mapping.fields.items():
            parts = path.split(".")
            if parts[0] == "goods_items[]":
                self._item_fields.append((parts[1:], source))
            else:
                self._declaration_fields.append((parts, source))

    def group_key(self, row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row.get(c, "")).strip() for c in self.mapping.group_by)

    def _read(self, row: dict[str, Any], source: Source) -> Any:
        if source.column is None:
            return source.value
        raw = row.get(source.column)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return source.default
        if source.split is not None and isinstance(raw, str):
            return [self._convert(source, part.strip()) for part in raw.split(source.split) if part.strip()]
        return self._convert(source, raw)

    def _convert(self, source: Source, raw: Any) -> Any:
        column = source.column or ""
        text = raw.strip() if isinstance(raw, str) else raw
        if source.map is not None:
            key = str(text)
            if key in source.map:
                return source.map[key]
            if source.unmapped == "error":
                raise CellError(column, key, "one of " + ", ".join(map(str, source.map)))
        if not isinstance(text, str):
            return text
        try:
            if source.type == "number":
                if self.mapping.decimal_separator == ",":
                    text = text.replace(" ", "").replace("\u00a0", "").replace(".", "").replace(",", ".")
                return str(Decimal(text))
            if source.type == "integer":
                return int(Decimal(text.replace(",", ".") if self.mapping.decimal_separator == "," else text))
            if source.type == "date":
                return (datetime.strptime(text, source.format).date() if source.format else date.fromisoformat(text)).isoformat()
            if source.type == "datetime":
                moment = datetime.strptime(text, source.format) if source.format else datetime.fromisoformat(text)
                if moment.tzinfo is None:  # national extracts carry local dates; read them as UTC
                    moment = moment.replace(tzinfo=timezone.utc)
                return moment.isoformat()
            if source.type == "boolean":
                return text.lower() in ("1", "true", "yes", "oui", "o", "y")
        except (InvalidOperation, ValueError):
            raise CellError(column, text, source.type + (f" ({source.format})" if source.format else "")) from None
        return text

    @staticmethod
    def _put(target: dict[str, Any], parts: list[str], value: Any) -> None:
        node = target
        for i, part in enumerate(parts[:-1]):
            if part.endswith("[]"):  # a split list of objects: one object per value
                name = part[:-2]
                rest = parts[i + 1 :]
                values = value if isinstance(value, list) else [value]
                items = node.setdefault(name, [{} for _ in values])
                for obj, v in zip(items, values):
                    Applier._put(obj, rest, v)
                return
            node = node.setdefault(part, {})
        last = parts[-1]
        node[last[:-2] if last.endswith("[]") else last] = value

    def document(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        first = rows[0]
        doc: dict[str, Any] = {}
        for parts, source in self._declaration_fields:
            value = self._read(first, source)
            if value is not None:
                self._put(doc, parts, value)
        if self._item_fields:
            items = []
            for row in rows:
                item: dict[str, Any] = {}
                for parts, source in self._item_fields:
                    value = self._read(row, source)
                    if value is not None:
                        self._put(item, parts, value)
                items.append(item)
            doc["goods_items"] = items
        items = doc.get("goods_items") or []
        if "sequence" in self.mapping.computed:
            for n, item in enumerate(items, start=1):
                item.setdefault("sequence", n)
        if "goods_item_quantity" in self.mapping.computed:
            doc.setdefault("goods_item_quantity", len(items))
        if "invoice_amount" in self.mapping.computed:
            try:
                doc.setdefault("invoice_amount", str(sum(Decimal(str(i.get("invoice_amount", "0"))) for i in items)))
            except InvalidOperation:
                pass  # the items' own amounts are reported by validation
        if "total_package_quantity" in self.mapping.computed:
            total = 0
            for item in items:
                for package in item.get("packages") or []:
                    if isinstance(package, dict) and isinstance(package.get("quantity"), int):
                        total += package["quantity"]
            doc.setdefault("total_package_quantity", total)
        return doc

    def registration_date(self, rows: list[dict[str, Any]]) -> str | None:
        if self.mapping.registration_date is None:
            return None
        value = self._read(rows[0], self.mapping.registration_date)
        return None if value is None else str(value)[:10]
