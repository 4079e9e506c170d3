"""CUSCAR (customs cargo report) to an Avance cargo report and back.

One message is one voyage of one conveyance; each consignment (CNI, segment group 7) is a bill of
lading. The mapping table is in ``docs/formats/edifact.md``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from avance.formats.edifact.common import Reading, amount, description, ftx, nad, party, stamp
from avance.formats.edifact.structure import Group, groups, top
from avance.formats.edifact.syntax import Message, Seg

OFFICE = ("22", "41", "96", "135")
"""LOC qualifiers (3227) read as the customs office; 22 is written."""
BILL_REFERENCES = ("BM", "BH", "MB", "AWB", "MWB", "HWB")
"""RFF qualifiers (1153) of a transport document; BM (bill of lading number) is written."""
GROSS = ("AAB", "G", "")
"""MEA C502 qualifiers read as a gross mass (with 6311 WT or AAE); AAB is written."""
VOYAGE = "VON"
"""RFF qualifier (1153) of the voyage number, read from segment group 1 when TDT 8028 is empty."""


# --- writing ----------------------------------------------------------------------------------


def write(body: dict[str, Any]) -> list[list[Any]]:
    """The segments between UNH and UNT of the CUSCAR for cargo report ``body``."""
    segments: list[list[Any]] = [["BGM", ["785"], [str(body.get("reference") or "")], "9"]]
    if body.get("office_code"):
        segments.append(["LOC", "22", [str(body["office_code"])]])
    if body.get("carrier"):
        segments.append(nad("CA", body["carrier"]))
    conveyance = body.get("conveyance") or {}
    mode = body.get("transport_mode_code")
    segments.append(
        [
            "TDT",
            "20",
            str(body.get("voyage_number") or ""),
            [str(mode) if mode is not None else ""],
            "",
            "",
            "",
            "",
            [str(conveyance.get("identification") or ""), "", "", str(conveyance.get("name") or ""), str(conveyance.get("nationality") or "")],
        ]
    )
    for qualifier, key in (("9", "port_of_loading"), ("11", "port_of_discharge"), ("149", "place_of_loading")):
        if body.get(key):
            segments.append(["LOC", qualifier, [str(body[key])]])
    for qualifier, key in (("132", "estimated_arrival"), ("133", "loading_date")):
        if body.get(key):
            segments.append(["DTM", [qualifier, stamp(body[key]), "204"]])
    if body.get("loaded") is not None:
        segments.append(["GIS", ["Y" if body["loaded"] else "N", "LOADED"]])
    seals: dict[str, list[str]] = {}
    for bill in body.get("bills_of_lading") or []:
        for container in bill.get("containers") or []:
            seals.setdefault(str(container["id"]), [str(s) for s in container.get("seals") or []])
    for container_id, container_seals in seals.items():
        segments.append(["EQD", "CN", [container_id]])
        segments.extend(["SEL", seal] for seal in container_seals)
    for number, bill in enumerate(body.get("bills_of_lading") or [], start=1):
        reference = str(bill.get("transport_document_reference") or "")
        segments.append(["CNI", str(number), [reference]])
        segments.append(["RFF", ["BM", reference]])
        if bill.get("consignor"):
            segments.append(nad("CZ", bill["consignor"]))
        if bill.get("consignee"):
            segments.append(nad("CN", bill["consignee"]))
        quantity = bill.get("package_quantity")
        segments.append(["GID", "1", [str(quantity) if quantity is not None else "", str(bill.get("package_type") or "")]])
        if bill.get("description"):
            segments.extend(ftx("AAA", str(bill["description"])))
        if bill.get("gross_mass") is not None:
            segments.append(["MEA", "WT", ["AAB"], ["KGM", amount(bill["gross_mass"])]])
        segments.extend(["SGP", [str(container["id"])]] for container in bill.get("containers") or [])
    return segments


# --- reading ----------------------------------------------------------------------------------


def read(message: Message, tree: list[Seg | Group], reading: Reading) -> dict[str, Any]:
    """The cargo report of a CUSCAR message (what the message holds; the API checks the rest)."""
    body: dict[str, Any] = {}
    bgm = top(tree, "BGM")
    if bgm and bgm[0].get(1):
        body["reference"] = bgm[0].get(1)
    transports = groups(tree, 4)
    main = next((g for g in transports if g.trigger.get(0) == "20"), transports[0] if transports else None)
    # A port given only for the consignments (SG8 LOC) is the report's when the header has none.
    consignment_locations = [seg for consignment in groups(tree, 7) for detail in consignment.groups(8) for seg in detail.segments("LOC")]
    locations = top(tree, "LOC") + (main.segments("LOC") if main else []) + consignment_locations
    dates = top(tree, "DTM") + (main.segments("DTM") if main else [])
    for seg in locations:
        qualifier, place = seg.get(0), seg.get(1)
        if qualifier in OFFICE and place and seg not in consignment_locations:
            body.setdefault("office_code", place)
        elif qualifier == "9" and place:
            body.setdefault("port_of_loading", place)
        elif qualifier in ("11", "12") and place:
            body.setdefault("port_of_discharge", place)
        elif qualifier == "149" and place and seg not in consignment_locations:
            body.setdefault("place_of_loading", place)
    for seg in dates:
        if seg.get(0, 0) == "132" and "estimated_arrival" not in body:
            moment = reading.moment(seg)
            if moment:
                body["estimated_arrival"] = moment
        elif seg.get(0, 0) == "133" and "loading_date" not in body:
            moment = reading.moment(seg)
            if moment:
                body["loading_date"] = moment
    carriers = [g.trigger for g in groups(tree, 2) if g.trigger.get(0) == "CA"]
    # The carrier of TDT C040 (3127 id, 3128 name) completes or stands for NAD+CA.
    carrier = party(carriers[0]) if carriers else {}
    if main:
        for key, value in (("id", main.trigger.get(4, 0)), ("name", main.trigger.get(4, 3))):
            if value and key not in carrier:
                carrier[key] = value
    if carrier:
        body["carrier"] = carrier
    voyages = [g.trigger.get(0, 1) for g in groups(tree, 1) if g.trigger.get(0, 0) == VOYAGE and g.trigger.get(0, 1)]
    if main and main.trigger.get(1):
        body["voyage_number"] = main.trigger.get(1)
    elif voyages:
        body["voyage_number"] = voyages[0]
    if main:
        tdt = main.trigger
        mode = reading.integer(tdt, 2, 0, "C220/8067")
        if mode is not None:
            body["transport_mode_code"] = mode
        conveyance = {k: v for k, v in (("identification", tdt.get(7, 0)), ("name", tdt.get(7, 3)), ("nationality", tdt.get(7, 4))) if v}
        if conveyance:
            body["conveyance"] = conveyance
    for seg in top(tree, "GIS"):
        if seg.get(0, 1) == "LOADED" and seg.get(0, 0) in ("Y", "N"):
            body["loaded"] = seg.get(0, 0) == "Y"
    seals: dict[str, list[str]] = {}
    for equipment in groups(tree, 5):
        container_id = equipment.trigger.get(1)
        if container_id:
            seals.setdefault(container_id, []).extend(s.get(0) for s in equipment.segments("SEL") if s.get(0))
    consignments = groups(tree, 7)
    bills = [_bill(reading, consignment, seals) for consignment in consignments]
    containers = [e.trigger.get(1) for e in groups(tree, 5) if e.trigger.get(0) == "CN" and e.trigger.get(1)]
    if len(bills) == 1 and "containers" not in bills[0] and containers:
        # One consignment and no SGP: every container of the message carries it (a full load).
        bills[0]["containers"] = [{"id": c, "seals": seals[c]} for c in dict.fromkeys(containers)]
    body["bills_of_lading"] = bills
    return body


def _bill(reading: Reading, consignment: Group, seals: dict[str, list[str]]) -> dict[str, Any]:
    bill: dict[str, Any] = {}
    reference = consignment.trigger.get(1, 0)
    details = consignment.groups(8)
    if not reference:
        reference = next((g.trigger.get(0, 1) for g in details if g.trigger.get(0, 0) in BILL_REFERENCES and g.trigger.get(0, 1)), "")
    if reference:
        bill["transport_document_reference"] = reference
    goods = [item for detail in details for item in detail.groups(14)]
    for detail in details:
        for role, key in (("CN", "consignee"), ("CZ", "consignor")):
            found = next((g.trigger for g in detail.groups(11) if g.trigger.get(0) == role), None)
            if found is not None and key not in bill:
                bill[key] = party(found)
    text = description([s for item in goods for s in item.segments("FTX")]) or description(
        [s for detail in details for quantity in detail.groups(13) for s in quantity.segments("FTX")]
    )
    if text:
        bill["description"] = text
    quantities = [reading.integer(item.trigger, 1, 0, "C213/7224") for item in goods]
    if any(q is not None for q in quantities):
        bill["package_quantity"] = sum(q for q in quantities if q is not None)
    kinds = [item.trigger.get(1, 1) for item in goods if item.trigger.get(1, 1)]
    if kinds:
        bill["package_type"] = kinds[0]
    masses = [reading.mass(seg) for item in goods for seg in item.segments("MEA") if seg.get(0) in ("WT", "AAE") and seg.get(1, 0) in GROSS and seg.get(2, 1)]
    if any(m is not None for m in masses):
        bill["gross_mass"] = format(sum((Decimal(m) for m in masses if m is not None), Decimal(0)), "f")
    containers: list[str] = []
    for item in goods:
        for seg in item.segments("SGP"):
            if seg.get(0) and seg.get(0) not in containers:
                containers.append(seg.get(0))
    if containers:
        bill["containers"] = [{"id": c, "seals": seals.get(c, [])} for c in containers]
    return bill
