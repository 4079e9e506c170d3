"""Parsing XML from outside safely: no entity resolution, no network, no DTD, bounded size (no
XXE, no entity expansion), with errors as one clear ``ValidationFailed``."""

from __future__ import annotations

from lxml import etree

from avance.kit.errors import Issue, ValidationFailed

MAX_XML_BYTES = 8 * 1024 * 1024
"""The largest XML message read, as the API's body limit."""


def parser() -> etree.XMLParser:
    """A parser that resolves no entity, loads no DTD, reaches no network and keeps no huge tree."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse(data: bytes, *, what: str = "xml") -> etree._Element:
    """The root element of ``data``. Refused (``format.xml.*``): too large, not well-formed, or
    carrying a DOCTYPE (entity declarations are how XXE and expansion attacks start)."""
    if len(data) > MAX_XML_BYTES:
        raise ValidationFailed([Issue("", "format.xml.too_large", {"limit": MAX_XML_BYTES, "what": what})])
    try:
        tree = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise ValidationFailed([Issue("", "format.xml.malformed", {"what": what, "line": exc.lineno or 0, "reason": " ".join(str(exc.msg or exc).split())[:300]})]) from None
    doc = tree.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise ValidationFailed([Issue("", "format.xml.doctype", {"what": what})])
    return tree
