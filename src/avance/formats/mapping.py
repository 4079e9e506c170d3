"""Column and path mappings: how an administration's own extract or export (ASYCUDA exports differ
from country to country) becomes Avance declarations, and back, without code.

One mechanism for every layout. A mapping names, for each Avance field (``fields``), where its
value comes from (a ``Source``):

- ``column``: a column of a CSV or JSON Lines record (one record or a group of rows = one
  declaration, ``group_by``);
- ``path`` (or ``parts``): a relative XPath evaluated with lxml on the declaration's element of an
  XML export (``format: xml``, ``record``), or on each goods item's element (``items``).

The same XML mapping writes in the other direction (``Applier.write_xml``): each path says where to
put the field; maps are inverted, ``fixed`` elements are written as given. See docs/import.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from avance.kit.datafiles import load_yaml_model
from avance.kit.errors import Issue, ValidationFailed

MAX_DIGITS = 40
"""The longest integer a cell may hold (refuses ``1e999999`` before it is expanded)."""


@lru_cache(maxsize=1024)
def _xpath(path: str) -> etree.XPath:
    return etree.XPath(path)


def _check_xpath(path: str) -> str:
    try:
        _xpath(path)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"bad XML path {path!r}: {exc}") from None
    return path


def _alternatives(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class Part(BaseModel):
    """One piece of a value held in several elements (e.g. an HS code: 8 digits + national precision)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    length: int | None = Field(None, ge=1, description="Characters of the value this part holds when writing; the last part takes the rest")

    _valid = field_validator("path")(_check_xpath)


class Source(BaseModel):
    """Where one target field's value comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str | None = None
    path: str | list[str] | None = None  # XML: a relative path, or alternatives (read: first found; write: first)
    parts: list[Part] | None = None  # XML: a value split over several elements, read joined
    value: Any = None  # a constant
    default: Any = None  # when the cell is empty
    map: dict[str, Any] | None = None  # code translation, e.g. {"1": "IM"}
    split: str | None = None  # a cell holding several values
    pattern: str | None = None  # a regular expression the value must match; its first group (else the match) is the value read
    format: str | list[str] | None = None  # strptime format(s) of a date or datetime cell (write: the first)
    type: Literal["text", "number", "integer", "date", "datetime", "boolean"] = "text"
    unmapped: Literal["keep", "error"] = "keep"
    required: bool = False  # an empty cell or a missing element is an error, named where it is
    distinct: bool = False  # XML: drop repeated values (e.g. a container listed once per goods item)
    write: bool = True  # XML: False = read only, never written

    @model_validator(mode="after")
    def _one_source(self) -> "Source":
        given = [name for name in ("column", "path", "parts") if getattr(self, name) is not None]
        if not given and self.value is None:
            raise ValueError("give 'column', 'path', 'parts' or 'value'")
        if len(given) > 1:
            raise ValueError("give only one of 'column', 'path' and 'parts'")
        for path in _alternatives(self.path):
            _check_xpath(path)
        if self.parts is not None and not self.parts:
            raise ValueError("'parts' needs at least one part")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"bad pattern {self.pattern!r}: {exc}") from None
        return self

    @property
    def paths(self) -> list[str]:
        return _alternatives(self.path)

    @property
    def formats(self) -> list[str]:
        return _alternatives(self.format)

    @property
    def where(self) -> str:
        """The column or path named in errors."""
        if self.column is not None:
            return self.column
        if self.parts is not None:
            return "+".join(p.path for p in self.parts)
        return self.paths[0] if self.paths else ""


def _shorthand_fields(fields: Any, xml: bool) -> Any:
    if isinstance(fields, dict):
        return {k: ({"path" if xml else "column": v} if isinstance(v, str) or (xml and isinstance(v, list)) else v) for k, v in fields.items()}
    return fields


def _check_targets(targets: Any) -> None:
    for path in targets:
        parts = path.split(".")
        if any(not p or p.count("[]") > 1 or ("[]" in p and not p.endswith("[]")) for p in parts):
            raise ValueError(f"bad field path {path!r}")
        if sum(p.endswith("[]") for p in parts) > 1:
            raise ValueError(f"only one list level per path: {path!r}")


class Items(BaseModel):
    """XML: the repeated goods item element of a declaration, with its own sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str = Field(description="Path of the goods item elements, relative to the declaration's element, e.g. Item")
    count: str | list[str] | None = Field(None, description="Path of the declared number of goods items (relative to the declaration's element)")
    fixed: dict[str, Any] = Field(default_factory=dict, description="Written only: path -> value or {field} template")
    fields: dict[str, Source]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            data["fields"] = _shorthand_fields(data.get("fields"), xml=True)
        return data

    @model_validator(mode="after")
    def _valid(self) -> "Items":
        for path in [self.path, *_alternatives(self.count), *self.fixed]:
            _check_xpath(path)
        _check_targets(self.fields)
        for target, source in self.fields.items():
            if source.column is not None:
                raise ValueError(f"items: {target}: an XML mapping takes 'path', not 'column'")
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["csv", "jsonl", "xml"] | None = None
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    decimal_separator: Literal[".", ",", "auto"] = Field(
        ".", description="'auto' (XML exports): 1250.5, 1 250,50 and 1,250.50 all read; a lone comma before three digits (1,250) is refused as ambiguous"
    )
    group_by: list[str] = Field(default_factory=list, description="Columns identifying one declaration")
    record: str | None = Field(None, description="XML: path of the declaration elements from the document, e.g. ASYCUDA (the root)")
    items: Items | None = None
    fixed: dict[str, Any] = Field(default_factory=dict, description="XML, written only: path -> value or {field} template")
    registration_date: Source | None = None
    computed: list[Literal["goods_item_quantity", "invoice_amount", "sequence", "total_package_quantity"]] = Field(default_factory=list)
    fields: dict[str, Source]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            xml = data.get("format") == "xml"
            if isinstance(data.get("group_by"), str):
                data["group_by"] = [data["group_by"]]
            if isinstance(data.get("registration_date"), str):
                data["registration_date"] = {"path" if xml else "column": data["registration_date"], "type": "date"}
            data["fields"] = _shorthand_fields(data.get("fields"), xml)
        return data

    @model_validator(mode="after")
    def _paths(self) -> "Mapping":
        _check_targets(self.fields)
        sources = list(self.fields.items()) + ([("registration_date", self.registration_date)] if self.registration_date else [])
        if self.format == "xml":
            for path in [self.record or "*", *self.fixed]:
                _check_xpath(path)
            for target, source in sources:
                if source.column is not None:
                    raise ValueError(f"{target}: an XML mapping takes 'path', not 'column'")
            if self.items is not None and any(t.startswith("goods_items[]") for t in self.fields):
                raise ValueError("give the goods items' fields under 'items', not as goods_items[] fields")
        else:
            if self.items is not None or self.record is not None or self.fixed:
                raise ValueError("'record', 'items' and 'fixed' need format: xml")
            for target, source in sources:
                if source.path is not None or source.parts is not None:
                    raise ValueError(f"{target}: 'path' and 'parts' need format: xml")
        return self


class CellError(ValueError):
    """A cell that cannot be read as its mapping says; ``column`` names it (for XML, its path)."""

    def __init__(self, column: str, value: str, expected: str) -> None:
        super().__init__(column, value, expected)
        self.column = column
        self.value = value
        self.expected = expected


_SPACES = re.compile(r"[ \u00a0\u202f\u2009]")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:(?P<sep>[ \u00a0\u202f\u2009.,'])\d{3})(?:(?P=sep)\d{3})*(?:(?P<dec>[.,])\d+)?")
_PLAIN = re.compile(r"[+-]?(?:\d+(?:(?P<dec>[.,])\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def _number(text: str, separator: str) -> Decimal:
    """A finite decimal number from ``text`` as an export writes it. ``.`` or ``,``: that
    decimal separator, the other one (and spaces) grouping thousands. ``auto``: 1250.5,
    1 250,50, 1,250.50, 1.250,50 and 12,5 all read; 1,250 (a lone comma before three digits, a
    thousand or one and a quarter) is refused. ValueError when it is no number."""
    text = text.strip()
    if separator == "auto":
        if (plain := _PLAIN.fullmatch(text)) is not None:
            if plain["dec"] == "," and re.fullmatch(r"[+-]?\d{1,3},\d{3}", text):
                raise ValueError(text)  # ambiguous
            normal = text.replace(",", ".")
        elif (grouped := _GROUPED.fullmatch(text)) is not None and grouped["sep"] != grouped["dec"]:
            normal = re.sub(r"[ \u00a0\u202f\u2009.,']", "", text[: grouped.start("dec")] if grouped["dec"] else text)
            if grouped["dec"]:
                normal += "." + text[grouped.end("dec") :]
        else:
            raise ValueError(text)
    elif separator == ",":
        normal = _SPACES.sub("", text).replace(".", "").replace(",", ".")
    else:
        normal = text
    number = Decimal(normal)
    if not number.is_finite() or number.adjusted() > MAX_DIGITS:
        raise ValueError(text)
    return number


def load_mapping(path: Path) -> Mapping:
    return load_yaml_model(Mapping, path)


# --- XML paths ----------------------------------------------------------------------------------

_STEP = re.compile(
    r"""^(?P<name>@?[A-Za-z_][\w.\-]*)
        (?:\[\s*(?:(?P<pos>[0-9]+)|(?P<key>@?[A-Za-z_][\w.\-]*)\s*=\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|\$(?P<var>[A-Za-z_]\w*)))\s*\])?$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Step:
    up: bool = False  # ".."
    name: str = ""
    position: int | None = None
    key: str | None = None
    literal: str | None = None
    variable: str | None = None

    @property
    def attribute(self) -> bool:
        return self.name.startswith("@")

    def key_value(self, variables: dict[str, Any]) -> str | None:
        if self.key is None:
            return None
        return self.literal if self.variable is None else str(variables.get(self.variable, ""))


def _split_steps(path: str) -> list[str]:
    steps, depth, quote, current = [], 0, "", ""
    for char in path:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "/" and depth == 0:
            steps.append(current.strip())
            current = ""
            continue
        current += char
    steps.append(current.strip())
    return steps


@lru_cache(maxsize=1024)
def writable_steps(path: str) -> tuple[_Step, ...] | None:
    """The steps of ``path`` when the writer can create what it names (names, ``..``, ``@attr``,
    ``name[n]``, ``name[key='x']``, ``name[key=$item]``); None for any other XPath (read only)."""
    steps: list[_Step] = []
    raw = _split_steps(path)
    for i, text in enumerate(raw):
        if text == "..":
            if steps and not steps[-1].up:
                return None
            steps.append(_Step(up=True))
            continue
        if text == "." or text == "":
            if text == "" and (i == 0 or i == len(raw) - 1):
                return None  # absolute or trailing-slash paths
            if text == "":
                return None  # "//"
            continue
        match = _STEP.match(text)
        if match is None:
            return None
        literal = match["sq"] if match["sq"] is not None else match["dq"]
        step = _Step(
            name=match["name"], position=int(match["pos"]) if match["pos"] else None, key=match["key"], literal=literal, variable=match["var"]
        )
        if step.attribute and (i != len(raw) - 1 or step.key or step.position):
            return None
        if step.position == 0:
            return None
        steps.append(step)
    if not steps or steps[-1].up:
        return None
    return tuple(steps)


_LINE_BREAK = re.compile(r"[ \t]*[\r\n][\s]*")


def _text(node: Any) -> str:
    """The value of an element (its text, without ``<null/>``'s nothing) or of an XPath result;
    a line break and the indentation around it (a name written over several lines) is one space."""
    if isinstance(node, etree._Element):
        return _LINE_BREAK.sub(" ", "".join(node.itertext()).strip())
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, float):
        return str(int(node)) if node.is_integer() else repr(node)
    return str(node).strip()


def _evaluate(context: etree._Element, path: str, variables: dict[str, Any]) -> list[Any]:
    try:
        result = _xpath(path)(context, **variables)
    except etree.XPathError as exc:
        raise CellError(path, "", f"a path this export can answer ({exc})") from None
    return result if isinstance(result, list) else [result]


def _first(context: etree._Element, paths: list[str], variables: dict[str, Any]) -> tuple[str | None, str]:
    """The first non-empty value among the alternatives, and the path it came from."""
    for path in paths:
        for node in _evaluate(context, path, variables):
            text = _text(node)
            if text:
                return text, path
    return None, paths[0] if paths else ""


def element_path(element: etree._Element) -> str:
    return element.getroottree().getpath(element)


def strip_namespaces(root: etree._Element) -> etree._Element:
    """Drop namespaces (and prefixes) from element and attribute names, so that mappings name
    plain elements whatever namespace an export declares."""
    for element in root.iter(etree.Element):
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = etree.QName(element).localname
        for name in [n for n in element.attrib if n.startswith("{")]:
            value = element.attrib.pop(name)
            element.attrib[etree.QName(name).localname] = value
    etree.cleanup_namespaces(root)
    return root


@dataclass
class XmlRecord:
    """One declaration read from an XML export: the document, its registration date, the problems."""

    element: etree._Element
    document: dict[str, Any]
    registration_date: str | None
    issues: list[Issue]


# --- the applier ----------------------------------------------------------------------------------


@dataclass
class Applier:
    """Turns the rows of one declaration (or its XML element) into the nested document the API
    accepts, and, for XML mappings, a document back into elements."""

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
        if self.mapping.items is not None:
            self._item_fields = [(path.split("."), source) for path, source in self.mapping.items.fields.items()]

    def group_key(self, row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row.get(c, "")).strip() for c in self.mapping.group_by)

    def _read(self, row: dict[str, Any], source: Source) -> Any:
        if source.column is None:
            return source.value
        raw = row.get(source.column)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if source.required and source.default is None:
                raise CellError(source.column, "", "a value")
            return source.default
        if source.split is not None and isinstance(raw, str):
            return [self._convert(source, part.strip()) for part in raw.split(source.split) if part.strip()]
        return self._convert(source, raw)

    def _convert(self, source: Source, raw: Any, where: str | None = None) -> Any:
        column = where or source.column or source.where
        text = raw.strip() if isinstance(raw, str) else raw
        if source.map is not None:
            key = str(text)
            if key in source.map:
                return source.map[key]
            if source.unmapped == "error":
                raise CellError(column, key, "one of " + ", ".join(map(str, source.map)))
        if not isinstance(text, str):
            return text
        if source.pattern is not None:
            match = re.fullmatch(source.pattern, text)
            if match is None:
                raise CellError(column, text, source.pattern)
            text = (match.group(1) if match.re.groups else match.group(0)) or ""
        try:
            if source.type == "number":
                number = _number(text, self.mapping.decimal_separator)
                return str(number)
            if source.type == "integer":
                number = _number(text, self.mapping.decimal_separator)
                if number != number.to_integral_value():
                    raise ValueError(text)  # 12.0 is 12; 0.06 packages is not a count
                return int(number)
            if source.type in ("date", "datetime"):
                moment = self._moment(source, text)
                if source.type == "date":
                    return moment.date().isoformat()
                if moment.tzinfo is None:  # national extracts carry local dates; read them as UTC
                    moment = moment.replace(tzinfo=timezone.utc)
                return moment.isoformat()
            if source.type == "boolean":
                return text.lower() in ("1", "true", "yes", "oui", "o", "y")
        except (InvalidOperation, ValueError, OverflowError):
            formats = "|".join(source.formats)
            raise CellError(column, text, source.type + (f" ({formats})" if formats else "")) from None
        return text

    @staticmethod
    def _moment(source: Source, text: str) -> datetime:
        for pattern in source.formats:
            try:
                return datetime.strptime(text, pattern)
            except ValueError:
                continue
        if source.formats:
            raise ValueError(text)
        if source.type == "date":
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        return datetime.fromisoformat(text)

    @staticmethod
    def _put(target: dict[str, Any], parts: list[str], value: Any) -> None:
        node = target
        for i, part in enumerate(parts[:-1]):
            if part.endswith("[]"):  # a list of objects: one object per value
                name = part[:-2]
                rest = parts[i + 1 :]
                values = value if isinstance(value, list) else [value]
                items = node.setdefault(name, [{} for _ in values])
                for obj, v in zip(items, values):
                    if v is not None:
                        Applier._put(obj, rest, v)
                return
            node = node.setdefault(part, {})
        last = parts[-1]
        node[last[:-2] if last.endswith("[]") else last] = value

    def _finish(self, doc: dict[str, Any]) -> dict[str, Any]:
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
        return self._finish(doc)

    def registration_date(self, rows: list[dict[str, Any]]) -> str | None:
        if self.mapping.registration_date is None:
            return None
        value = self._read(rows[0], self.mapping.registration_date)
        return None if value is None else str(value)[:10]

    # --- reading XML ---------------------------------------------------------------------------

    def records(self, root: etree._Element) -> list[etree._Element]:
        """The declaration elements of an export (namespaces already stripped)."""
        record = self.mapping.record
        if not record:
            return [root]
        path = record if record.startswith("/") else "/" + record
        try:
            found = root.getroottree().xpath(path)
        except etree.XPathError:
            return []
        return [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) else []

    def _read_xml(self, context: etree._Element, source: Source, target_list: bool, variables: dict[str, Any]) -> Any:
        where = element_path(context)
        if source.parts is not None:
            pieces = [(_first(context, [p.path], variables)[0] or "") for p in source.parts]
            raw: Any = "".join(pieces) if pieces[0] else None  # the first part holds the value, the others its precision
            at = where + "/" + (source.parts[0].path if raw is None else source.where)
        elif source.paths:
            if target_list:
                values: list[str] = []
                at = where + "/" + source.paths[0]
                for path in source.paths:
                    values = [t for t in (_text(n) for n in _evaluate(context, path, variables)) if t]
                    if values:
                        at = where + "/" + path
                        break
                if source.split is not None:
                    values = [p.strip() for v in values for p in v.split(source.split) if p.strip()]
                if source.distinct:
                    values = list(dict.fromkeys(values))
                converted = [self._convert(source, v, at) for v in values]
                return converted or self._empty(source, at)
            raw, path = _first(context, source.paths, variables)
            at = where + "/" + path
        else:
            return source.value
        if raw is None:
            return self._empty(source, at)
        if source.split is not None:
            return [self._convert(source, part.strip(), at) for part in raw.split(source.split) if part.strip()]
        return self._convert(source, raw, at)

    @staticmethod
    def _empty(source: Source, at: str) -> Any:
        if source.required and source.default is None:
            raise CellError(at, "", "a value")
        return source.default

    def _read_objects(self, context: etree._Element, source: Source, variables: dict[str, Any]) -> list[Any] | None:
        """A ``list[].field`` target: one value per repeated element (the path's first step), so
        that the fields of one object stay together even when some are missing."""
        for path in source.paths:
            steps = _split_steps(path)
            lead = 0
            while lead < len(steps) - 1 and steps[lead] in ("..", "."):
                lead += 1
            repeated = "/".join(steps[: lead + 1])
            rest = "/".join(steps[lead + 1 :])
            elements = [e for e in _evaluate(context, repeated, variables) if isinstance(e, etree._Element)]
            if not elements:
                continue
            values: list[Any] = []
            for element in elements:
                raw, _ = _first(element, [rest], variables) if rest else (_text(element) or None, "")
                at = element_path(element) + ("/" + rest if rest else "")
                values.append(self._empty(source, at) if raw is None else self._convert(source, raw, at))
            if source.distinct:
                values = list(dict.fromkeys(values))
            return values
        if source.paths:
            return None if source.default is None else [source.default]
        return None

    def _fill(self, target: dict[str, Any], context: etree._Element, fields: list[tuple[list[str], Source]], variables: dict[str, Any], issues: list[Issue]) -> None:
        for parts, source in fields:
            try:
                objects = any(p.endswith("[]") for p in parts[:-1])
                if objects and source.paths and source.split is None:
                    value = self._read_objects(context, source, variables)
                else:
                    value = self._read_xml(context, source, parts[-1].endswith("[]"), variables)
            except CellError as exc:
                issues.append(cell_issue(exc))
                continue
            if value is not None and value != []:
                self._put(target, parts, value)

    def read_record(self, element: etree._Element) -> XmlRecord:
        """The document of one declaration element, with every problem found in it."""
        issues: list[Issue] = []
        doc: dict[str, Any] = {}
        self._fill(doc, element, self._declaration_fields, {"item": 0}, issues)
        items_block = self.mapping.items
        if items_block is not None:
            try:
                elements = [e for e in _evaluate(element, items_block.path, {"item": 0}) if isinstance(e, etree._Element)]
            except CellError as exc:
                issues.append(cell_issue(exc))
                elements = []
            items = []
            for number, item_element in enumerate(elements, start=1):
                item: dict[str, Any] = {}
                self._fill(item, item_element, self._item_fields, {"item": number}, issues)
                items.append(item)
            if items:
                doc["goods_items"] = items
            if items_block.count is not None:
                self._check_count(element, items_block, len(elements), issues)
        registered = None
        if self.mapping.registration_date is not None:
            try:
                value = self._read_xml(element, self.mapping.registration_date, False, {"item": 0})
                registered = None if value is None else str(value)[:10]
            except CellError as exc:
                issues.append(cell_issue(exc))
        return XmlRecord(element, self._finish(doc), registered, issues)

    def _check_count(self, element: etree._Element, items_block: Items, found: int, issues: list[Issue]) -> None:
        paths = _alternatives(items_block.count)
        try:
            raw, path = _first(element, paths, {"item": 0})
        except CellError as exc:
            issues.append(cell_issue(exc))
            return
        if raw is None:
            return
        at = element_path(element) + "/" + path
        try:
            declared = Decimal(raw)
            if not declared.is_finite() or declared != declared.to_integral_value() or declared.adjusted() > MAX_DIGITS:
                raise InvalidOperation
        except InvalidOperation:
            issues.append(Issue(at, "format.mapping.bad_value", {"where": at, "value": raw, "expected": "integer"}))
            return
        if int(declared) != found:
            issues.append(Issue(at, "format.mapping.item_count", {"declared": int(declared), "found": found, "where": at}))

    # --- writing XML ---------------------------------------------------------------------------

    def write_xml(self, documents: list[dict[str, Any]]) -> etree._Element:
        """The XML of ``documents`` (Avance declarations) as this mapping lays it out: each
        field's first path says where its value goes. Items are written first, then the
        declaration's fields, the item count and the fixed elements, each filling an element only
        where it is still empty (a declaration's field whose path leads into the items fills every
        item lacking it)."""
        record_steps = _split_steps((self.mapping.record or "ASYCUDA").lstrip("/"))
        ranks = self._ranks(record_steps)
        root = etree.Element(record_steps[0])
        issues: list[Issue] = []
        writer = _Writer(ranks, issues)
        for index, doc in enumerate(documents):
            parent = root
            for name in record_steps[1:-1]:
                parent = writer.child(parent, _Step(name=name), {})
            element = root if len(record_steps) == 1 else writer.create(parent, _Step(name=record_steps[-1]), {})
            prefix = f"/{index}" if len(documents) > 1 else ""
            items_block = self.mapping.items
            if items_block is not None:
                item_steps = writable_steps(items_block.path)
                if item_steps is None or item_steps[-1].attribute:
                    raise ValueError(f"items path {items_block.path!r} cannot be written")
                holder = writer.walk(element, item_steps[:-1], {})
                for number, item in enumerate(doc.get("goods_items") or [], start=1):
                    if not isinstance(item, dict):
                        continue
                    variables = {"item": number}
                    item_element = writer.create(holder, item_steps[-1], variables)
                    where = f"{prefix}/goods_items/{number - 1}"
                    self._write_fields(writer, item_element, item, self._item_fields, variables, where)
                    writer.fixed(item_element, items_block.fixed, {**item, "declaration": doc}, variables)
            self._write_fields(writer, element, doc, self._declaration_fields, {"item": 0}, prefix)
            if items_block is not None and items_block.count:
                count = writable_steps(_alternatives(items_block.count)[0])
                if count is not None:
                    writer.put(element, count, str(len(doc.get("goods_items") or [])), {})
            writer.fixed(element, self.mapping.fixed, doc, {"item": 0})
        if issues:
            raise ValidationFailed(issues)
        return root

    def _write_fields(self, writer: "_Writer", element: etree._Element, doc: dict[str, Any], fields: list[tuple[list[str], Source]], variables: dict[str, Any], prefix: str) -> None:
        for parts, source in fields:
            if not source.write or (source.paths == [] and source.parts is None):
                continue
            pointer = prefix + "/" + "/".join(p.rstrip("[]") for p in parts)
            list_at = next((i for i, p in enumerate(parts[:-1]) if p.endswith("[]")), None)
            try:
                if list_at is not None:
                    objects = _get(doc, parts[: list_at] + [parts[list_at][:-2]])
                    if not isinstance(objects, list):
                        continue
                    values = [_get(o, parts[list_at + 1 :]) if isinstance(o, dict) else None for o in objects]
                    writer.put_list(element, source, [self._unconvert(source, v, pointer) for v in values], variables)
                    continue
                value = _get(doc, [p[:-2] if p.endswith("[]") else p for p in parts])
                if value is None:
                    continue
                if isinstance(value, list):
                    texts = [self._unconvert(source, v, pointer) for v in value]
                    if source.split is not None:
                        writer.put_source(element, source, source.split.join(t for t in texts if t is not None), variables)
                    else:
                        writer.put_list(element, source, texts, variables)
                    continue
                text = self._unconvert(source, value, pointer)
                if text is not None:
                    writer.put_source(element, source, text, variables)
            except CellError as exc:
                writer.issues.append(Issue(pointer, "format.mapping.cannot_write", {"where": pointer, "value": exc.value, "expected": exc.expected}))

    def _unconvert(self, source: Source, value: Any, pointer: str) -> str | None:
        """The text of an Avance value as this source's cell holds it (the map inverted)."""
        if value is None:
            return None
        if source.map is not None:
            inverse: dict[str, str] = {}
            for code, meaning in source.map.items():
                inverse.setdefault(_key(meaning), str(code))
            if _key(value) in inverse:
                return inverse[_key(value)]
            if source.unmapped == "error":
                raise CellError(pointer, _key(value), "one of " + ", ".join(inverse))
        try:
            if source.type in ("number", "integer"):
                number = Decimal(str(value))
                if not number.is_finite():
                    raise ValueError(value)
                text = str(int(number)) if source.type == "integer" else str(value)
                return text.replace(".", ",") if self.mapping.decimal_separator == "," else text
            if source.type in ("date", "datetime"):
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                if moment.tzinfo is not None:
                    moment = moment.astimezone(timezone.utc)
                if source.formats:
                    return moment.strftime(source.formats[0])
                return moment.date().isoformat() if source.type == "date" else moment.isoformat()
            if source.type == "boolean":
                return "true" if value is True or str(value).lower() in ("1", "true") else "false"
        except (InvalidOperation, ValueError, OverflowError, TypeError):
            raise CellError(pointer, str(value), source.type) from None
        return str(value)

    def _ranks(self, record_steps: list[str]) -> dict[tuple[str, str], int]:
        """The order of each element among its siblings: the order in which the mapping first
        names it (record, fixed, fields, then items)."""
        ranks: dict[tuple[str, str], int] = {}

        def note(chain: list[str], path: str) -> None:
            steps = writable_steps(path)
            if steps is None:
                return
            stack = list(chain)
            for step in steps:
                if step.up:
                    if len(stack) > 1:
                        stack.pop()
                    continue
                if step.attribute:
                    continue
                ranks.setdefault((stack[-1] if stack else "", step.name), len(ranks))
                if step.key and not step.key.startswith("@"):
                    ranks.setdefault((step.name, step.key), len(ranks))
                stack.append(step.name)

        note([], "/".join(record_steps))
        for path in self.mapping.fixed:
            note(record_steps, path)
        for _, source in self._declaration_fields:
            for path in source.paths[:1] + [p.path for p in source.parts or []]:
                note(record_steps, path)
        items_block = self.mapping.items
        if items_block is not None:
            note(record_steps, items_block.path)
            item_chain = record_steps + [s.name for s in writable_steps(items_block.path) or () if not s.up]
            for path in items_block.fixed:
                note(item_chain, path)
            for _, source in self._item_fields:
                for path in source.paths[:1] + [p.path for p in source.parts or []]:
                    note(item_chain, path)
        return ranks


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def cell_issue(exc: CellError) -> Issue:
    """The issue of a cell or element that cannot be read; its pointer is where it is."""
    if exc.value == "" and exc.expected == "a value":
        return Issue(exc.column, "format.mapping.missing", {"where": exc.column})
    return Issue(exc.column, "format.mapping.bad_value", {"where": exc.column, "value": exc.value, "expected": exc.expected})


class _Template(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


@dataclass
class _Writer:
    ranks: dict[tuple[str, str], int]
    issues: list[Issue]

    def create(self, parent: etree._Element, step: _Step, variables: dict[str, Any]) -> etree._Element:
        new = etree.Element(step.name)
        rank = self.ranks.get((parent.tag, step.name), len(self.ranks))
        position = len(parent)
        for i, child in enumerate(parent):
            if self.ranks.get((parent.tag, child.tag), len(self.ranks)) > rank:
                position = i
                break
        parent.insert(position, new)
        key = step.key_value(variables)
        if step.key is not None and key is not None:
            if step.key.startswith("@"):
                new.set(step.key[1:], key)
            else:
                etree.SubElement(new, step.key).text = key
        return new

    @staticmethod
    def matches(parent: etree._Element, step: _Step, variables: dict[str, Any]) -> list[etree._Element]:
        found = [c for c in parent if c.tag == step.name]
        if step.key is not None:
            wanted = step.key_value(variables)
            if step.key.startswith("@"):
                found = [c for c in found if c.get(step.key[1:]) == wanted]
            else:
                found = [c for c in found if any(_text(k) == wanted for k in c if k.tag == step.key)]
        if step.position is not None:
            found = found[step.position - 1 : step.position]
        return found

    def child(self, parent: etree._Element, step: _Step, variables: dict[str, Any]) -> etree._Element:
        found = self.matches(parent, step, variables)
        if found:
            return found[0]
        if step.position is not None:
            while len(self.matches(parent, _Step(name=step.name), variables)) < step.position:
                last = self.create(parent, _Step(name=step.name), variables)
            return last
        return self.create(parent, step, variables)

    def walk(self, element: etree._Element, steps: tuple[_Step, ...], variables: dict[str, Any]) -> etree._Element:
        for step in steps:
            if step.up:
                element = element.getparent() if element.getparent() is not None else element
            else:
                element = self.child(element, step, variables)
        return element

    def put(self, element: etree._Element, steps: tuple[_Step, ...], text: str, variables: dict[str, Any]) -> None:
        """Write ``text`` at ``steps`` below ``element``, into every element the steps already
        match (creating the first where none does), never over a value already written."""
        contexts = [element]
        for step in steps[:-1]:
            following: list[etree._Element] = []
            for context in contexts:
                if step.up:
                    parent = context.getparent()
                    following.append(parent if parent is not None else context)
                    continue
                found = self.matches(context, step, variables)
                following.extend(found or [self.child(context, step, variables)])
            contexts = list(dict.fromkeys(following))
        last = steps[-1]
        for context in contexts:
            if last.attribute:
                if not context.get(last.name[1:]):
                    context.set(last.name[1:], text)
                continue
            found = self.matches(context, last, variables) or [self.child(context, last, variables)]
            for target in found:
                if _text(target):
                    continue
                for child in list(target):
                    if child.tag == "null":
                        target.remove(child)
                target.text = text

    def put_source(self, element: etree._Element, source: Source, text: str, variables: dict[str, Any]) -> None:
        if source.parts is not None:
            rest = text
            for i, part in enumerate(source.parts):
                piece, rest = (rest, "") if part.length is None or i == len(source.parts) - 1 else (rest[: part.length], rest[part.length :])
                steps = writable_steps(part.path)
                if piece and steps is not None:
                    self.put(element, steps, piece, variables)
            return
        steps = writable_steps(source.paths[0])
        if steps is not None:
            self.put(element, steps, text, variables)

    def put_list(self, element: etree._Element, source: Source, texts: list[str | None], variables: dict[str, Any]) -> None:
        """One value per repeated element (the path's first step after any ``..``): the i-th
        value goes to the i-th such element, created when missing."""
        if not source.paths:
            return
        steps = writable_steps(source.paths[0])
        if steps is None:
            return
        lead = 0
        while lead < len(steps) - 1 and steps[lead].up:
            lead += 1
        holder = self.walk(element, steps[:lead], variables)
        repeated, rest = steps[lead], steps[lead + 1 :]
        for i, text in enumerate(texts):
            existing = self.matches(holder, repeated, variables)
            target = existing[i] if i < len(existing) else self.create(holder, repeated, variables)
            if text is None:
                continue
            if rest:
                self.put(target, rest, text, variables)
            elif repeated.attribute:
                holder.set(repeated.name[1:], text)
            else:
                target.text = text

    def fixed(self, element: etree._Element, fixed: dict[str, Any], values: dict[str, Any], variables: dict[str, Any]) -> None:
        for path, template in fixed.items():
            steps = writable_steps(path)
            if steps is None:
                continue
            try:
                text = str(template).format_map(_Template(values)) if isinstance(template, str) else _key(template)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError):
                continue
            if text:
                self.put(element, steps, text, variables)
