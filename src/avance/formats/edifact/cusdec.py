"""CUSDEC (customs declaration) to an Avance import declaration or export notice, and back.

The document name of BGM tells which: 929 (goods declaration for importation) is a declaration,
830 (goods declaration for exportation, as the ``EXD`` sample) is an export notice for mirror
control. The mapping table is in ``docs/formats/edifact.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from avance.formats.edifact.common import NAME_WIDTH, Reading, amount, calendar, chunks, description, ftx, joined, nad, party, stamp
from avance.formats.edifact.structure import Group, groups, top
from avance.formats.edifact.syntax import Message, Seg

IMPORT_CODES = ("929",)
EXPORT_CODES = ("830",)
IMPORT_NAMES = ("IM", "IMD", "IMP", "IMPORT")
EXPORT_NAMES = ("EX", "EXD", "EXP", "EXPORT")
OFFICE = ("22", "41", "96", "135")
EXIT_OFFICE = ("42", "114")
BILL_REFERENCES = ("BM", "BH", "MB", "AWB", "MWB", "HWB")
MANIFEST = "ZMN"
UCR = "UCN"
CONTAINER = "AAQ"
NET = ("AAA", "N")
GROSS = ("AAB", "G")
MARKS_WIDTH = 35


def document_kind(message: Message, tree: list[Seg | Group], reading: Reading) -> Literal["declaration", "export_notice"] | None:
    """Import declaration or export notice, from BGM C002 (code 1001, or name 1000)."""
    bgm = top(tree, "BGM")
    if not bgm:
        return None
    code, name = bgm[0].get(0, 0), bgm[0].get(0, 3).upper()
    if code in IMPORT_CODES:
        return "declaration"
    if code in EXPORT_CODES:
        return "export_notice"
    if name in IMPORT_NAMES:
        return "declaration"
    if name in EXPORT_NAMES:
        return "export_notice"
    reading.bad(bgm[0], "C002/1001", "format.edifact.bgm_document", ":".join(bgm[0].composite(0)))
    return None


# --- writing ----------------------------------------------------------------------------------


def _cst(sequence: str, codes: list[tuple[Any, str]]) -> list[Any]:
    return ["CST", sequence, *([str(code), agency] if code not in (None, "") else "" for code, agency in codes)]


def _mea(qualifier: str, measure: str, unit: str, value: Any) -> list[Any]:
    return ["MEA", qualifier, [measure], [unit, amount(value)]]


def write_declaration(body: dict[str, Any]) -> list[list[Any]]:
    """The segments between UNH and UNT of the CUSDEC for import declaration ``body``."""
    currency = str(body.get("invoice_currency") or "")
    segments: list[list[Any]] = [["BGM", ["929"], [str(body.get("lrn") or "")], "9"]]
    if body.get("procedure_code"):
        segments.append(_cst("", [(body["procedure_code"], "CPC")]))
    if body.get("office_code"):
        segments.append(["LOC", "22", [str(body["office_code"])]])
    if body.get("estimated_arrival"):
        segments.append(["DTM", ["132", stamp(body["estimated_arrival"]), "204"]])
    if body.get("split_consignment"):
        segments.append(["GIS", ["Y", "SPLIT"]])
    containers = body.get("containers") or []
    segments.extend(["EQD", "CN", [str(c["id"])]] for c in containers)
    segments.extend(["SEL", str(seal), "", "", [str(c["id"])]] for c in containers for seal in c.get("seals") or [])
    for qualifier, key in (("BM", "transport_document_reference"), (MANIFEST, "manifest_reference"), (UCR, "ucr")):
        if body.get(key):
            segments.append(["RFF", [qualifier, str(body[key])]])
    means = body.get("transport_means") or {}
    mode = body.get("transport_mode_code")
    segments.append(
        [
            "TDT",
            "20",
            "",
            [str(mode) if mode is not None else ""],
            "",
            "",
            "",
            "",
            [str(means.get("identification") or ""), "", "", str(means.get("name") or ""), str(means.get("nationality") or "")],
        ]
    )
    for role, key in (("DT", "declarant"), ("IM", "importer"), ("EX", "exporter"), ("CZ", "consignor"), ("CN", "consignee")):
        if body.get(key):
            segments.append(nad(role, body[key]))
    if body.get("incoterm"):
        segments.append(["TOD", "", "", [str(body["incoterm"])]])
    for qualifier, key in (("39", "invoice_amount"), ("64", "freight_amount"), ("67", "insurance_amount")):
        if body.get(key) is not None:
            segments.append(["MOA", [qualifier, amount(body[key]), currency]])
    segments.append(["UNS", "D"])
    for item in body.get("goods_items") or []:
        segments.extend(_declaration_item(item, currency))
    segments.append(["UNS", "S"])
    if body.get("goods_item_quantity") is not None:
        segments.append(["CNT", ["2", str(body["goods_item_quantity"])]])
    if body.get("total_package_quantity") is not None:
        segments.append(["CNT", ["11", str(body["total_package_quantity"])]])
    return segments


def _declaration_item(item: dict[str, Any], currency: str) -> list[list[Any]]:
    segments: list[list[Any]] = [_cst(str(item.get("sequence", "")), [(item.get("procedure_code"), "CPC"), (item.get("duty_regime"), "DRC")])]
    if item.get("description"):
        segments.extend(ftx("AAA", str(item["description"])))
    if item.get("origin_country"):
        segments.append(["LOC", "27", [str(item["origin_country"])]])
    if item.get("net_mass") is not None:
        segments.append(_mea("WT", "AAA", "KGM", item["net_mass"]))
    if item.get("gross_mass") is not None:
        segments.append(_mea("WT", "AAB", "KGM", item["gross_mass"]))
    if item.get("supplementary_quantity") is not None:
        segments.append(_mea("SU", "", str(item.get("supplementary_unit") or ""), item["supplementary_quantity"]))
    for package in item.get("packages") or []:
        segments.append(["PAC", str(package.get("quantity", "")), "", [str(package.get("type_code") or "")]])
        marks = chunks(str(package["marks"]), MARKS_WIDTH) if package.get("marks") else []
        segments.extend(["PCI", "", marks[i : i + 10]] for i in range(0, len(marks), 10))
    if item.get("invoice_amount") is not None:
        segments.append(["MOA", ["38", amount(item["invoice_amount"]), currency]])
    if item.get("hs_code"):
        segments.append(["RFF", ["HS", str(item["hs_code"])]])
    segments.extend(["RFF", [CONTAINER, str(c)]] for c in item.get("container_ids") or [])
    return segments


def write_export_notice(body: dict[str, Any]) -> list[list[Any]]:
    """The segments between UNH and UNT of the CUSDEC (export) for export notice ``body``."""
    totals = body.get("totals") or {}
    total_value = totals.get("statistical_value") or {}
    segments: list[list[Any]] = [["BGM", ["830", "", "", "EXD"], [str(body.get("export_declaration_reference") or "")], "9"]]
    for qualifier, key in (("35", "exporting_country"), ("28", "destination_country"), ("42", "office_of_exit")):
        if body.get(key):
            segments.append(["LOC", qualifier, [str(body[key])]])
    if body.get("export_date"):
        segments.append(["DTM", ["129", calendar(body["export_date"]), "102"]])
    if totals.get("net_mass") is not None:
        segments.append(_mea("WT", "AAA", "KGM", totals["net_mass"]))
    for qualifier, key in ((UCR, "ucr"), ("BM", "transport_document_reference")):
        if body.get(key):
            segments.append(["RFF", [qualifier, str(body[key])]])
    for role, key in (("EX", "exporter"), ("CN", "consignee")):
        if body.get(key):
            segments.append(nad(role, body[key]))
    if total_value.get("amount") is not None:
        segments.append(["MOA", ["63", amount(total_value["amount"]), str(total_value.get("currency") or "")]])
    segments.append(["UNS", "D"])
    for item in body.get("items") or []:
        value = item.get("statistical_value") or {}
        segments.append(["CST", str(item.get("sequence", ""))])
        if item.get("description"):
            segments.extend(ftx("AAA", str(item["description"])))
        if item.get("origin_country"):
            segments.append(["LOC", "27", [str(item["origin_country"])]])
        if item.get("net_mass") is not None:
            segments.append(_mea("WT", "AAA", "KGM", item["net_mass"]))
        if item.get("supplementary_quantity") is not None:
            segments.append(_mea("SU", "", str(item.get("supplementary_unit") or ""), item["supplementary_quantity"]))
        if value.get("amount") is not None:
            segments.append(["MOA", ["63", amount(value["amount"]), str(value.get("currency") or "")]])
        if item.get("hs_code"):
            segments.append(["RFF", ["HS", str(item["hs_code"])]])
    segments.append(["UNS", "S"])
    if totals.get("goods_item_quantity") is not None:
        segments.append(["CNT", ["2", str(totals["goods_item_quantity"])]])
    return segments


# --- reading ----------------------------------------------------------------------------------


def _codes(cst: Seg) -> dict[str, str]:
    """The customs codes of CST by their list (1131): CPC procedure, DRC duty regime, 122/HS tariff."""
    return {cst.get(i, 1): cst.get(i, 0) for i in range(1, 6) if cst.get(i, 0)}


def _header(tree: list[Seg | Group]) -> tuple[dict[str, Seg], dict[str, str], dict[str, dict[str, Any]]]:
    locations: dict[str, Seg] = {}
    for seg in top(tree, "LOC"):
        locations.setdefault(seg.get(0), seg)
    references: dict[str, str] = {}
    for group in groups(tree, 1):
        references.setdefault(group.trigger.get(0, 0), group.trigger.get(0, 1))
    return locations, references, {role: p for role, p in _parties(tree).items()}


def _currency(amount: Group, fallback: Sequence[Group] = ()) -> str:
    """The currency of a monetary amount group (SG8, SG33): MOA C516/6345, else the reference
    currency (C504/6345) of the CUX in the group, else of the first CUX among ``fallback``."""
    if amount.trigger.get(0, 2):
        return amount.trigger.get(0, 2)
    for group in [amount, *fallback]:
        for currencies in group.groups(34 if group.number == 33 else 9):
            if currencies.trigger.get(0, 1):
                return currencies.trigger.get(0, 1)
    return ""


def _parties(tree: list[Seg | Group]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for group in groups(tree, 6):
        found.setdefault(group.trigger.get(0), party(group.trigger))
    return found


def _masses(reading: Reading, segments: list[Seg]) -> tuple[str | None, str | None]:
    """Net and gross mass from MEA (WT or AAE); a weight without qualifier is the net mass."""
    net = gross = loose = None
    for seg in segments:
        if seg.get(0) not in ("WT", "AAE", "ABW") or not seg.get(2, 1):
            continue
        qualifier = seg.get(1, 0)
        if qualifier in NET and net is None:
            net = reading.mass(seg)
        elif qualifier in GROSS and gross is None:
            gross = reading.mass(seg)
        elif not qualifier and seg.get(0) == "WT" and loose is None:
            loose = reading.mass(seg)
    return net if net is not None else loose, gross


def _supplementary(reading: Reading, segments: list[Seg], into: dict[str, Any]) -> None:
    for seg in segments:
        if seg.get(0) == "SU" and seg.get(2, 1):
            quantity = reading.number(seg, 2, 1, "C174/6314")
            if quantity is not None:
                into["supplementary_quantity"] = quantity
                if seg.get(2, 0):
                    into["supplementary_unit"] = seg.get(2, 0)
            return


def _hs(item: Group) -> str | None:
    for group in item.groups(35):
        if group.trigger.get(0, 0) == "HS" and group.trigger.get(0, 1):
            return group.trigger.get(0, 1)
    codes = _codes(item.trigger)
    return codes.get("122") or codes.get("HS")


def read_declaration(message: Message, tree: list[Seg | Group], reading: Reading) -> dict[str, Any]:
    """The import declaration of a CUSDEC message (what the message holds; the API checks the rest)."""
    body: dict[str, Any] = {"type_code": "IM"}
    bgm = top(tree, "BGM")
    if bgm and bgm[0].get(1):
        body["lrn"] = bgm[0].get(1)
    for cst in top(tree, "CST"):
        procedure = _codes(cst).get("CPC")
        if procedure:
            body["procedure_code"] = procedure
    locations, references, parties = _header(tree)
    office = next((locations[q].get(1) for q in OFFICE if q in locations and locations[q].get(1)), None)
    if office:
        body["office_code"] = office
    for seg in top(tree, "DTM"):
        if seg.get(0, 0) == "132" and "estimated_arrival" not in body:
            moment = reading.moment(seg)
            if moment:
                body["estimated_arrival"] = moment
    if any(seg.get(0, 1) == "SPLIT" and seg.get(0, 0) in ("Y", "1") for seg in top(tree, "GIS")):
        body["split_consignment"] = True
    container_ids = [seg.get(1) for seg in top(tree, "EQD") if seg.get(1)]
    seals: dict[str, list[str]] = {c: [] for c in container_ids}
    for seg in top(tree, "SEL"):
        owner = seg.get(3, 0) or (container_ids[0] if len(container_ids) == 1 else "")
        if seg.get(0) and owner in seals:
            seals[owner].append(seg.get(0))
    if container_ids:
        body["containers"] = [{"id": c, "seals": seals[c]} for c in dict.fromkeys(container_ids)]
    bill = next((references[q] for q in BILL_REFERENCES if references.get(q)), None)
    for key, value in (("transport_document_reference", bill), ("manifest_reference", references.get(MANIFEST)), ("ucr", references.get(UCR))):
        if value:
            body[key] = value
    transports = groups(tree, 4)
    if transports:
        tdt = transports[0].trigger
        mode = reading.integer(tdt, 2, 0, "C220/8067")
        if mode is not None:
            body["transport_mode_code"] = mode
        means = {k: v for k, v in (("identification", tdt.get(7, 0)), ("name", tdt.get(7, 3)), ("nationality", tdt.get(7, 4))) if v}
        if means:
            body["transport_means"] = means
    for role, key in (("DT", "declarant"), ("IM", "importer"), ("EX", "exporter"), ("CZ", "consignor"), ("CN", "consignee")):
        if role in parties:
            body[key] = parties[role]
    if "exporter" not in body and "SE" in parties:
        body["exporter"] = parties["SE"]
    for group in groups(tree, 7):
        incoterm = group.trigger.get(2, 0) or group.trigger.get(0)
        if incoterm:
            body["incoterm"] = incoterm
    for group in groups(tree, 8):
        moa = group.trigger
        key = {"39": "invoice_amount", "64": "freight_amount", "67": "insurance_amount"}.get(moa.get(0, 0))
        if key and key not in body:
            value = reading.number(moa, 0, 1, "C516/5004")
            if value is not None:
                body[key] = value
            currency = _currency(group, groups(tree, 8))
            if key == "invoice_amount" and currency:
                body["invoice_currency"] = currency
    items = [_declaration_item_read(reading, item) for item in groups(tree, 30)]
    body["goods_items"] = items
    counts = {seg.get(0, 0): seg for seg in top(tree, "CNT")}
    body["goods_item_quantity"] = (reading.integer(counts["2"], 0, 1, "C270/6066") if "2" in counts else None) or len(items)
    if "11" in counts:
        packages = reading.integer(counts["11"], 0, 1, "C270/6066")
        if packages is not None:
            body["total_package_quantity"] = packages
    return body


def _item_head(reading: Reading, item: Group) -> dict[str, Any]:
    """What an import and an export goods item both say: sequence, HS code, description, origin."""
    out: dict[str, Any] = {}
    sequence = reading.integer(item.trigger, 0, 0, "1496")
    if sequence is not None:
        out["sequence"] = sequence
    hs = _hs(item)
    if hs:
        out["hs_code"] = hs
    text = description(item.segments("FTX"))
    if text:
        out["description"] = text
    origin = next((seg.get(1) for seg in item.segments("LOC") if seg.get(0) == "27" and seg.get(1)), None)
    if origin:
        out["origin_country"] = origin
    return out


def _declaration_item_read(reading: Reading, item: Group) -> dict[str, Any]:
    out = _item_head(reading, item)
    codes = _codes(item.trigger)
    if codes.get("CPC"):
        out["procedure_code"] = codes["CPC"]
    if codes.get("DRC"):
        out["duty_regime"] = codes["DRC"]
    net, gross = _masses(reading, item.segments("MEA"))
    if net is not None:
        out["net_mass"] = net
    if gross is not None:
        out["gross_mass"] = gross
    _supplementary(reading, item.segments("MEA"), out)
    for group in item.groups(33):
        if group.trigger.get(0, 0) == "38":
            value = reading.number(group.trigger, 0, 1, "C516/5004")
            if value is not None:
                out["invoice_amount"] = value
            break
    packages = []
    for group in item.groups(31):
        package: dict[str, Any] = {}
        quantity = reading.integer(group.trigger, 0, 0, "7224")
        if quantity is not None:
            package["quantity"] = quantity
        if group.trigger.get(2, 0):
            package["type_code"] = group.trigger.get(2, 0)
        marks = joined([part for marking in group.groups(32) for part in marking.trigger.composite(1)], NAME_WIDTH)
        if marks:
            package["marks"] = marks
        packages.append(package)
    if packages:
        out["packages"] = packages
    containers = [g.trigger.get(0, 1) for g in item.groups(35) if g.trigger.get(0, 0) == CONTAINER and g.trigger.get(0, 1)]
    if containers:
        out["container_ids"] = containers
    return out


def read_export_notice(message: Message, tree: list[Seg | Group], reading: Reading) -> dict[str, Any]:
    """The export notice of a CUSDEC export declaration (what the message holds; the API checks
    the rest). A trader here has an identifier, a name and a country, no address."""
    body: dict[str, Any] = {}
    bgm = top(tree, "BGM")
    if bgm and bgm[0].get(1):
        body["export_declaration_reference"] = bgm[0].get(1)
    locations, references, parties = _header(tree)
    if references.get(UCR):
        body["ucr"] = references[UCR]
    bill = next((references[q] for q in BILL_REFERENCES if references.get(q)), None)
    if bill:
        body["transport_document_reference"] = bill
    for role, key in (("EX", "exporter"), ("CN", "consignee")):
        if role in parties:
            body[key] = {k: v for k, v in parties[role].items() if k != "address"}
    loading = locations.get("9")
    if "35" in locations and locations["35"].get(1):
        body["exporting_country"] = locations["35"].get(1)
    elif loading is not None and len(loading.get(1)) == 5:
        body["exporting_country"] = loading.get(1)[:2]
    if "28" in locations and locations["28"].get(1):
        body["destination_country"] = locations["28"].get(1)
    office = next((locations[q].get(1) for q in EXIT_OFFICE if q in locations and locations[q].get(1)), None)
    if office:
        body["office_of_exit"] = office
    for seg in top(tree, "DTM"):
        if seg.get(0, 0) == "129":
            day = reading.day(seg)
            if day:
                body["export_date"] = day
            break
    currency = ""
    total: str | None = None
    for group in groups(tree, 8):
        if group.trigger.get(0, 0) == "63":
            currency = _currency(group, groups(tree, 8))
            total = reading.number(group.trigger, 0, 1, "C516/5004")
            break
    items = [_export_item(reading, item, currency) for item in groups(tree, 30)]
    body["items"] = items
    header_net, _ = _masses(reading, top(tree, "MEA"))
    counts = {seg.get(0, 0): seg for seg in top(tree, "CNT")}
    quantity = reading.integer(counts["2"], 0, 1, "C270/6066") if "2" in counts else None
    values = [Decimal(i["statistical_value"]["amount"]) for i in items if "amount" in i.get("statistical_value", {})]
    nets = [Decimal(i["net_mass"]) for i in items if "net_mass" in i]
    body["totals"] = {
        "goods_item_quantity": quantity if quantity is not None else len(items),
        "net_mass": header_net if header_net is not None else format(sum(nets, Decimal(0)), "f"),
        "statistical_value": {"amount": total if total is not None else format(sum(values, Decimal(0)), "f"), "currency": currency},
    }
    if not currency:
        del body["totals"]["statistical_value"]["currency"]
    return body


def _export_item(reading: Reading, item: Group, currency: str) -> dict[str, Any]:
    out = _item_head(reading, item)
    net, _ = _masses(reading, item.segments("MEA"))
    if net is not None:
        out["net_mass"] = net
    _supplementary(reading, item.segments("MEA"), out)
    for group in item.groups(33):
        if group.trigger.get(0, 0) == "63":
            value = reading.number(group.trigger, 0, 1, "C516/5004")
            if value is not None:
                out["statistical_value"] = {"amount": value, "currency": _currency(group) or currency}
                if not out["statistical_value"]["currency"]:
                    del out["statistical_value"]["currency"]
            break
    return out
