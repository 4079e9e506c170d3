"""WCO DM 3.6 customs response (RES) for what Avance decided about a declaration: accepted,
rejected (every error with its pointer), tax calculation, control required, released."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lxml import etree

from avance.formats.documents import Answer, AnswerError
from avance.formats.wco.dec import FIELDS, ITEM_FIELDS, PARTY_FIELDS
from avance.formats.wco.schema import MD_NS, RES_DS_NS, RES_NS, res_schema, validate, wco_ids
from avance.kit.errors import Issue, ValidationFailed

FUNCTION_CODES: dict[str, str] = {
    "accepted": "01",
    "rejected": "03",
    "control_required": "05",
    "released": "09",
    "tax_calculation": "13",
}
"""Response/FunctionCode of each answer (the WCO DM response codes as the DMS profile uses them:
01 accepted, 03 rejected, 05 goods under control, 09 cleared/released, 13 tax calculation)."""

LANE_STATEMENT_TYPE = "CUS"  # AdditionalInformation/StatementTypeCode carrying the lane
TAX_CODE_STATEMENT_TYPE = "TXC"  # AdditionalInformation naming a tax code longer than the 3 characters of DutyTaxFee/TypeCode

_CLASS_ID = re.compile(r"^[0-9]{2}[A-Z]$")
_STEP = re.compile(r"^([A-Za-z]+)(?:\[(\d+)\])?$")


def validation_code(key: str) -> str:
    """The 8-character Error/ValidationCode of a catalog key: ``AV`` and six hexadecimal digits
    of its SHA-1 (stable; the key itself is in the Description)."""
    return "AV" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:6].upper()


def wco_path(pointer: str) -> str | None:
    """The DEC path (below ``Declaration``, with 1-based positions) of an error pointer: an Avance
    JSON pointer (``/goods_items/1/hs_code``) through the field table, or a DEC path as the
    reader gives it (``/Declaration/GoodsShipment/GovernmentAgencyGoodsItem[2]/...``). None when
    the pointer names no DEC element (an EDIFACT position, an unknown field)."""
    if not pointer or pointer == "/":
        return ""
    steps = [s for s in pointer.split("/") if s]
    if steps and steps[0] in ("MetaData",):
        steps = steps[1:]
    if steps and re.sub(r"\[\d+\]$", "", steps[0]) == "Declaration":
        return "/".join(steps[1:])
    if not steps or "[" in pointer:
        return None
    head, rest = steps[0], steps[1:]
    if head in ("goods_items", "items") and rest and rest[0].isdigit():
        base = f"GoodsShipment/GovernmentAgencyGoodsItem[{int(rest[0]) + 1}]"
        inner = rest[1:]
        if not inner:
            return base
        names = [s for s in inner if not s.isdigit()]
        indexes = [int(s) + 1 for s in inner if s.isdigit()]
        for size in range(len(names), 0, -1):
            mapped = ITEM_FIELDS.get("/".join(names[:size]))
            if mapped is not None:
                if indexes:
                    first, _, tail = mapped.partition("/")
                    mapped = f"{first}[{indexes[0]}]" + (f"/{tail}" if tail else "")
                return f"{base}/{mapped}"
        return base
    if head == "containers" and rest and rest[0].isdigit():
        path = f"GoodsShipment/Consignment/TransportEquipment[{int(rest[0]) + 1}]"
        if len(rest) > 1 and rest[1] == "seals":
            return path + (f"/Seal[{int(rest[2]) + 1}]/ID" if len(rest) > 2 and rest[2].isdigit() else "/Seal")
        return path + ("/ID" if len(rest) > 1 else "")
    mapped = FIELDS.get("/".join(steps[:2])) or FIELDS.get(head)
    if mapped is None:
        return None
    if len(steps) > 1 and steps[1] in PARTY_FIELDS and head in ("declarant", "importer", "exporter", "consignor", "consignee"):
        return f"{mapped}/{PARTY_FIELDS[steps[1]]}"
    return mapped


def pointers(pointer: str) -> list[tuple[int | None, str, str | None]]:
    """The RES ``Pointer`` elements of an error: one per DEC class on the way (its WCO ID as
    DocumentSectionCode, its position as SequenceNumeric), the data element's WCO ID as the last
    one's TagID. The declaration (42A) alone when the pointer names no DEC element."""
    found: list[tuple[int | None, str, str | None]] = [(None, "42A", None)]
    path = wco_path(pointer)
    if not path:
        return found
    ids = wco_ids()
    plain: list[str] = []
    for step in path.split("/"):
        match = _STEP.match(step)
        if match is None:
            break
        plain.append(match.group(1))
        wco_id = ids.get("/".join(plain))
        if wco_id is None:
            break
        if _CLASS_ID.match(wco_id):
            found.append((int(match.group(2)) if match.group(2) else None, wco_id, None))
        elif len(wco_id) <= 4:
            sequence, section, _ = found[-1]
            found[-1] = (sequence, section, wco_id)
            break
    return found


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")


def _amount(value: Decimal) -> str:
    value = Decimal(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3:
        value = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    return format(value, "f")


def _sub(parent: etree._Element, tag: str, text: Any = None, **attributes: Any) -> etree._Element:
    element = etree.SubElement(parent, f"{{{RES_NS}}}{tag}", {k: str(v) for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = str(text)
    return element


def _datetime(parent: etree._Element, tag: str, moment: datetime) -> None:
    etree.SubElement(_sub(parent, tag), f"{{{RES_DS_NS}}}DateTimeString", formatCode="304").text = _stamp(moment)


def _error(response: etree._Element, error: AnswerError) -> None:
    element = _sub(response, "Error")
    where = f" [{error.pointer}]" if error.pointer else ""
    _sub(element, "Description", (f"{error.code}: {error.message}"[: 510 - len(where)] + where).strip() or error.code)
    _sub(element, "ValidationCode", validation_code(error.code))
    for sequence, section, tag in pointers(error.pointer):
        pointer = _sub(element, "Pointer")
        if sequence is not None:
            _sub(pointer, "SequenceNumeric", sequence)
        _sub(pointer, "DocumentSectionCode", section)
        if tag is not None:
            _sub(pointer, "TagID", tag)


def _short(code: str) -> str:
    return code[:3]


def write_response(answer: Answer) -> bytes:
    """A RES message (``MetaData`` envelope around one ``Response``), valid against
    ``WCO_RES_2_DMS.xsd``. ``docs/formats/wco.md`` lists what each answer kind carries."""
    if answer.kind not in FUNCTION_CODES:
        raise ValidationFailed([Issue("", "format.wco.answer_unsupported", {"kind": answer.kind})])
    meta = etree.Element(f"{{{MD_NS}}}MetaData", nsmap={"md": MD_NS, None: RES_NS, "ds": RES_DS_NS})
    etree.SubElement(meta, f"{{{MD_NS}}}WCODataModelVersionCode").text = "3.6"
    etree.SubElement(meta, f"{{{MD_NS}}}WCOTypeName").text = "RES"
    response = etree.SubElement(meta, f"{{{RES_NS}}}Response")
    _sub(response, "FunctionCode", FUNCTION_CODES[answer.kind])
    message_id = answer.extra.get("message_id") or uuid.uuid5(uuid.NAMESPACE_URL, f"avance:{answer.kind}:{answer.reference}:{answer.identifier}:{_stamp(answer.issued_at)}").hex
    _sub(response, "FunctionalReferenceID", str(message_id)[:35])
    _datetime(response, "IssueDateTime", answer.issued_at)
    if answer.lane:
        info = _sub(response, "AdditionalInformation")
        _sub(info, "StatementCode", answer.lane[:17])
        _sub(info, "StatementTypeCode", LANE_STATEMENT_TYPE)
    long_codes = sorted({line.type_code for line in answer.duties if len(line.type_code) > 3})
    for code in long_codes:
        info = _sub(response, "AdditionalInformation")
        _sub(info, "StatementCode", _short(code))
        _sub(info, "StatementDescription", code)
        _sub(info, "StatementTypeCode", TAX_CODE_STATEMENT_TYPE)
    for error in answer.errors:
        _error(response, error)
    declaration = _sub(response, "Declaration")
    if answer.kind == "accepted":
        _datetime(declaration, "AcceptanceDateTime", answer.issued_at)
    _sub(declaration, "FunctionalReferenceID", answer.reference[:35])
    if answer.identifier:
        _sub(declaration, "ID", answer.identifier[:70])
    if answer.kind == "rejected":
        _datetime(declaration, "RejectionDateTime", answer.issued_at)
    if answer.kind == "tax_calculation":
        _duties(declaration, answer)
    tree = meta
    problems = validate(res_schema(), tree)
    if problems:  # a value longer than the RES allows (an office code, a reference)
        raise ValidationFailed([Issue(p.pointer, "format.wco.cannot_write", p.params) for p in problems])
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _duties(declaration: etree._Element, answer: Answer) -> None:
    total = answer.total
    if total is None and answer.duties:
        total = sum((line.amount for line in answer.duties), Decimal(0))
    currency = answer.currency or next((line.currency for line in answer.duties), None)
    if total is not None:
        payment = _sub(_sub(declaration, "DutyTaxFee"), "Payment")
        _sub(payment, "TaxAssessedAmount", _amount(total), currencyID=currency)
        _sub(payment, "PaymentAmount", _amount(total), currencyID=currency)
    for line in answer.duties:
        if line.item is None:  # the declaration-level DutyTaxFee has no TypeCode: the code goes in Payment/ReferenceID
            payment = _sub(_sub(declaration, "DutyTaxFee"), "Payment")
            _sub(payment, "ReferenceID", line.type_code[:35])
            _sub(payment, "TaxAssessedAmount", _amount(line.amount), currencyID=line.currency)
    items: dict[int, list[Any]] = {}
    for line in answer.duties:
        if line.item is not None:
            items.setdefault(line.item, []).append(line)
    if items:
        shipment = _sub(declaration, "GoodsShipment")
        for sequence in sorted(items):
            item = _sub(shipment, "GovernmentAgencyGoodsItem")
            _sub(item, "SequenceNumeric", sequence)
            commodity = _sub(item, "Commodity")
            for line in items[sequence]:
                duty = _sub(commodity, "DutyTaxFee")
                if line.base is not None:
                    _sub(duty, "AdValoremTaxBaseAmount", _amount(line.base), currencyID=line.currency)
                if line.rate is not None:
                    _sub(duty, "TaxRateNumeric", format(Decimal(line.rate), "f"))
                _sub(duty, "TypeCode", _short(line.type_code))
                payment = _sub(duty, "Payment")
                _sub(payment, "TaxAssessedAmount", _amount(line.amount), currencyID=line.currency)
                _sub(payment, "PaymentAmount", _amount(line.amount), currencyID=line.currency)
