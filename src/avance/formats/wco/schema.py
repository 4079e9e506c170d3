"""The WCO DM 3.6 schemas shipped with Avance (UK DMS profile, Apache-2.0, see
``formats/schemas/wco/SOURCE.md``): loading them once, validating a tree, and turning every XSD
error into an ``Issue`` that names the line and the element path."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lxml import etree

from avance.kit.errors import Issue

DEC_NS = "urn:wco:datamodel:WCO:DEC-DMS:2"
RES_NS = "urn:wco:datamodel:WCO:RES-DMS:2"
MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
DEC_DS_NS = "urn:wco:datamodel:WCO:Declaration_DS:DMS:2"
"""Namespace of the ``DateTimeString`` inside a DEC date (the schema's data-type module)."""
RES_DS_NS = "urn:wco:datamodel:WCO:Response_DS:DMS:2"

_XS = "http://www.w3.org/2001/XMLSchema"
_SHORT = {f"{{{DEC_NS}}}": "", f"{{{RES_NS}}}": "", f"{{{MD_NS}}}": "md:"}
_CLARK = re.compile(r"\{(" + "|".join(re.escape(ns) for ns in (DEC_NS, RES_NS, MD_NS)) + r")\}")


_QUOTED = re.compile(r"'([^']{61,})'?")  # libxml2 cuts its own messages near 64 KB, maybe before the closing quote
REASON_VALUE_CHARS = 60
"""A value quoted in an XSD message is cut to this many characters (libxml2 quotes the offending
value whole: a 5 MB text would otherwise make a 64 KB error line)."""


def _short(message: str) -> str:
    """An XSD message with the message's own namespaces left out (others, such as the date-time
    module's, stay: they are what a sender got wrong) and long quoted values cut."""
    message = _CLARK.sub(lambda m: _SHORT["{" + m.group(1) + "}"], message)
    return _QUOTED.sub(lambda m: "'" + m.group(1)[:REASON_VALUE_CHARS] + "…'", message)


def schema_dir() -> Path:
    """The directory holding ``declaration/`` and ``notification/`` (the files stay on disk: the
    schemas import each other by relative path)."""
    return Path(str(resources.files("avance.formats").joinpath("schemas", "wco")))


def _driver(imports: list[tuple[str, str]]) -> etree.XMLSchema:
    """One schema made of several namespaces (the metadata envelope takes its content with a
    strict ``xs:any``, so the content's namespace must be known to the same schema)."""
    base = schema_dir()
    parts = "".join(f'<xs:import namespace="{ns}" schemaLocation="{(base / path).resolve().as_uri()}"/>' for ns, path in imports)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.fromstring(f'<xs:schema xmlns:xs="{_XS}">{parts}</xs:schema>', parser))


@lru_cache(maxsize=1)
def dec_schema() -> etree.XMLSchema:
    """DEC: a bare ``Declaration`` or one wrapped in ``MetaData`` (loaded once)."""
    return _driver([(MD_NS, "declaration/DocumentMetaData_2_DMS.xsd"), (DEC_NS, "declaration/WCO_DEC_2_DMS.xsd")])


@lru_cache(maxsize=1)
def res_schema() -> etree.XMLSchema:
    """RES: a bare ``Response`` or responses wrapped in ``MetaData`` (loaded once)."""
    return _driver([(MD_NS, "notification/DocumentMetaData_2_DMS.xsd"), (RES_NS, "notification/WCO_RES_2_DMS.xsd")])


def element_path(root: etree._Element, element: etree._Element) -> str:
    """``/Declaration/GoodsShipment/GovernmentAgencyGoodsItem[2]/Commodity``: local names, with
    the position among same-named siblings when there are several; the metadata envelope is left
    out so that the path starts at the business message."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        if not (node is root and name == "MetaData" and len(steps) > 0):
            steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def _resolve(root: etree._Element, path: str | None) -> etree._Element | None:
    """The element a libxml2 error path (``/md:MetaData/*[6]/*[5]``) points at, or None."""
    if not path or not path.startswith("/"):
        return None
    steps = path.strip("/").split("/")
    node = root
    try:
        for i, step in enumerate(steps):
            match = re.fullmatch(r"(?:[\w.-]+:)?([\w.*-]+)(?:\[(\d+)\])?", step)
            if match is None:
                return None
            name, index = match.group(1), int(match.group(2) or 1)
            if i == 0:
                if name not in ("*", etree.QName(root).localname):
                    return None
                continue
            children = [c for c in node if isinstance(c.tag, str) and (name == "*" or etree.QName(c).localname == name)]
            if index > len(children):
                return None
            node = children[index - 1]
    except (ValueError, IndexError):
        return None
    return node


def validate(schema: etree.XMLSchema, root: etree._Element) -> list[Issue]:
    """Every XSD error of ``root`` as ``format.wco.schema_invalid`` (line, element, reason)."""
    if schema.validate(root.getroottree()):
        return []
    issues = []
    for error in schema.error_log:
        element = _resolve(root, getattr(error, "path", None))
        pointer = element_path(root, element) if element is not None else (error.path or "")
        reason = _short(error.message or "").strip()
        issues.append(Issue(pointer, "format.wco.schema_invalid", {"line": error.line, "element": pointer, "reason": reason}))
    return issues


@lru_cache(maxsize=1)
def wco_ids() -> dict[str, str]:
    """The WCO ID of each DEC element by its path below ``Declaration`` (``GoodsShipment`` -> 67A,
    ``GoodsShipment/GovernmentAgencyGoodsItem/Commodity/Classification/ID`` -> 145), read from
    the schema's annotations: what a RES ``Pointer`` names as DocumentSectionCode and TagID."""
    base = schema_dir() / "declaration"
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    xs = "{" + _XS + "}"

    def ids(node: etree._Element) -> list[str]:
        return [(e.text or "").strip() for e in node.iter() if isinstance(e.tag, str) and e.tag.endswith("}WCOID") and (e.text or "").strip()]

    ds = etree.parse(str(base / "WCO_DS" / "WCO_DEC_DS_2_DMS.xsd"), parser).getroot()
    by_type = {t.get("name"): found[0] for t in ds if isinstance(t.tag, str) and t.get("name") and (found := ids(t))}
    dec = etree.parse(str(base / "WCO_DEC_2_DMS.xsd"), parser).getroot()
    found: dict[str, str] = {}

    def walk(complex_type: etree._Element, prefix: str) -> None:
        sequence = complex_type.find(xs + "sequence")
        if sequence is None:
            return
        for element in sequence.findall(xs + "element"):
            path = f"{prefix}/{element.get('name')}" if prefix else str(element.get("name"))
            annotation = element.find(xs + "annotation")
            own = ids(annotation) if annotation is not None else []
            wco_id = own[0] if own else by_type.get((element.get("type") or "").split(":")[-1], "")
            if wco_id:
                found[path] = wco_id
            inner = element.find(xs + "complexType")
            if inner is not None:
                walk(inner, path)

    top = next(t for t in dec.findall(xs + "complexType") if t.get("name") == "Declaration")
    walk(top, "")
    found[""] = "42A"
    return found
