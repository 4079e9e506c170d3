"""WCO DM 3.6 goods declaration (DEC) <-> Avance declarations and export notices.

An import declaration (``TypeCode`` IM...) becomes a ``declaration`` document (the body of
``POST /declarations``); an export declaration (EX...) becomes an ``export_notice`` (the body of
``POST /matching/export-notices``). ``docs/formats/wco.md`` has the field table; ``FIELDS``
below is the same table in code, used to point a RES error at the DEC element of an Avance field.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from avance.formats.documents import Document
from avance.formats.wco.schema import DEC_DS_NS, DEC_NS, MD_NS, dec_schema, element_path, validate
from avance.formats.xml import parse
from avance.kit.errors import Issue, ValidationFailed

ROOT_TAGS: tuple[str, ...] = (f"{{{DEC_NS}}}Declaration", f"{{{MD_NS}}}MetaData")
"""Root elements of a DEC message: a bare ``Declaration`` or the ``MetaData`` envelope around one."""

WHAT = "WCO DM DEC"

TRANSPORT_DOCUMENT_CODES: dict[int, str] = {1: "705", 2: "720", 3: "730", 4: "740", 8: "705", 9: "730"}
"""UN/EDIFACT 1001 code of the transport document written for each transport mode (bill of
lading, rail and road consignment notes, air waybill); any other mode writes 705."""
TRANSPORT_DOCUMENT_READ = frozenset({"704", "705", "706", "707", "708", "710", "714", "720", "722", "730", "740", "741", "750", "760"})
MANIFEST_CODES = ("785", "355")  # cargo manifest; entry summary declaration (the EU's cargo report)
UCR_CODE = "DCR"  # the UK's declaration UCR, read when GoodsShipment/UCR is absent
INSURANCE_CODES = frozenset({"67", "AS"})  # UN/EDIFACT 5025 insurance; the UK's code
FREIGHT_CODES = ("64", "AK")
"""Read as the freight when FreightChargeAmount is absent: UN/EDIFACT 5025 freight charge (64),
and the EU/UK DE 4/9 addition AK (transport, loading and insurance up to the place of entry)."""
CLASSIFICATION_TYPE = "TSP"  # the tariff line, as the DMS profile names it
CLASSIFICATION_READ = frozenset({"TSP", "HS", "CN", "TAR", "TRF", "NAT"})
"""Classification types read as the tariff line. Others are not tariff lines and are skipped: TRC
(the TARIC digits, appended), TRA (TARIC additional code), GN (national additional code), CV (the
CUS number of a chemical, such as 0010164-4)."""
SPLIT_STATEMENT = "SPLIT"  # AdditionalInformation/StatementCode of a partial clearance (national extension)
REGIME_CODES = {"general": "100", "community": "300"}
REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,34}")
"""A reference as Avance holds it (an LRN, a transport document number)."""
MASS_UNITS = {"KGM": Decimal(1), "TNE": Decimal(1000), "GRM": Decimal("0.001")}

FIELDS: dict[str, str] = {
    "lrn": "FunctionalReferenceID",
    "type_code": "TypeCode",
    "procedure_code": "GoodsShipment/GovernmentAgencyGoodsItem/GovernmentProcedure/CurrentCode",
    "declarant": "Declarant",
    "importer": "GoodsShipment/Importer",
    "exporter": "Exporter",
    "consignor": "GoodsShipment/Consignor",
    "consignee": "GoodsShipment/Consignee",
    "office_code": "DeclarationOfficeID",
    "transport_mode_code": "BorderTransportMeans/ModeCode",
    "transport_means": "BorderTransportMeans",
    "transport_means/identification": "BorderTransportMeans/ID",
    "transport_means/name": "BorderTransportMeans/Name",
    "transport_means/nationality": "BorderTransportMeans/RegistrationNationalityCode",
    "transport_document_reference": "GoodsShipment/PreviousDocument/ID",
    "manifest_reference": "GoodsShipment/PreviousDocument/ID",
    "ucr": "GoodsShipment/UCR/ID",
    "incoterm": "GoodsShipment/TradeTerms/ConditionCode",
    "invoice_currency": "InvoiceAmount",
    "invoice_amount": "InvoiceAmount",
    "freight_amount": "GoodsShipment/CustomsValuation/FreightChargeAmount",
    "insurance_amount": "GoodsShipment/CustomsValuation/ChargeDeduction/OtherChargeDeductionAmount",
    "goods_item_quantity": "GoodsItemQuantity",
    "total_package_quantity": "TotalPackageQuantity",
    "containers": "GoodsShipment/Consignment/TransportEquipment",
    "containers/id": "GoodsShipment/Consignment/TransportEquipment/ID",
    "containers/seals": "GoodsShipment/Consignment/TransportEquipment/Seal/ID",
    "goods_items": "GoodsShipment/GovernmentAgencyGoodsItem",
    "export_declaration_reference": "ID",
    "exporting_country": "GoodsShipment/ExportCountry/ID",
    "destination_country": "GoodsShipment/Destination/CountryCode",
    "office_of_exit": "ExitOffice/ID",
    "export_date": "AcceptanceDateTime",
    "items": "GoodsShipment/GovernmentAgencyGoodsItem",
    "totals": "GoodsItemQuantity",
}
"""Avance field (JSON pointer without indexes) -> DEC path below ``Declaration``."""

ITEM_FIELDS: dict[str, str] = {
    "sequence": "SequenceNumeric",
    "hs_code": "Commodity/Classification/ID",
    "description": "Commodity/Description",
    "origin_country": "Origin/CountryCode",
    "procedure_code": "GovernmentProcedure/CurrentCode",
    "duty_regime": "Commodity/DutyTaxFee/DutyRegimeCode",
    "net_mass": "Commodity/GoodsMeasure/NetNetWeightMeasure",
    "gross_mass": "Commodity/GoodsMeasure/GrossMassMeasure",
    "supplementary_quantity": "Commodity/GoodsMeasure/TariffQuantity",
    "supplementary_unit": "Commodity/GoodsMeasure/TariffQuantity",
    "invoice_amount": "Commodity/InvoiceLine/ItemChargeAmount",
    "statistical_value": "StatisticalValueAmount",
    "packages": "Packaging",
    "packages/quantity": "Packaging/QuantityQuantity",
    "packages/type_code": "Packaging/TypeCode",
    "packages/marks": "Packaging/MarksNumbersID",
    "container_ids": "Commodity/TransportEquipment/ID",
}
"""Goods item field -> DEC path below ``GovernmentAgencyGoodsItem``."""

PARTY_FIELDS = {"id": "ID", "name": "Name", "country": "Address/CountryCode", "address": "Address/Line"}


# --- reading --------------------------------------------------------------------------------------


def _q(path: str) -> str:
    return "/".join(f"{{{DEC_NS}}}{step}" for step in path.split("/"))


class _Reader:
    """Reads one validated ``Declaration``; collects the issues of what cannot be mapped."""

    def __init__(self, root: etree._Element, declaration: etree._Element) -> None:
        self.root = root
        self.declaration = declaration
        self.issues: list[Issue] = []

    def issue(self, element: etree._Element, key: str, **params: Any) -> None:
        pointer = element_path(self.root, element)
        self.issues.append(Issue(pointer, key, {"element": pointer, "line": element.sourceline or 0, **params}))

    @staticmethod
    def find(node: etree._Element | None, path: str) -> etree._Element | None:
        return None if node is None else node.find(_q(path))

    @staticmethod
    def all(node: etree._Element | None, path: str) -> list[etree._Element]:
        return [] if node is None else node.findall(_q(path))

    def text(self, node: etree._Element | None, path: str) -> str | None:
        element = self.find(node, path)
        if element is None:
            return None
        value = " ".join((element.text or "").split())
        return value or None

    def decimal(self, node: etree._Element | None, path: str) -> tuple[Decimal, etree._Element] | None:
        element = self.find(node, path)
        if element is None or not (element.text or "").strip():
            return None
        try:
            return Decimal((element.text or "").strip()), element
        except InvalidOperation:  # the schema checks xs:decimal; kept for safety
            self.issue(element, "format.wco.number_invalid", value=(element.text or "").strip()[:40])
            return None

    def integer(self, node: etree._Element | None, path: str) -> int | None:
        found = self.decimal(node, path)
        if found is None:
            return None
        value, element = found
        if value != value.to_integral_value():
            self.issue(element, "format.wco.number_invalid", value=str(value))
            return None
        return int(value)

    def amount(self, node: etree._Element | None, path: str, currency: str | None) -> tuple[str, str | None] | None:
        """An amount as plain decimal text, with its ``currencyID`` (None when absent); a
        currency other than ``currency`` (when given) is an issue."""
        found = self.decimal(node, path)
        if found is None:
            return None
        value, element = found
        code = (element.get("currencyID") or "").strip() or None
        if currency is not None and code is not None and code != currency:
            self.issue(element, "format.wco.currency_mismatch", found=code, expected=currency)
        return _plain(value), code

    def mass(self, node: etree._Element | None, path: str) -> str | None:
        found = self.decimal(node, path)
        if found is None:
            return None
        value, element = found
        unit = (element.get("unitCode") or "KGM").strip().upper()
        factor = MASS_UNITS.get(unit)
        if factor is None:
            self.issue(element, "format.wco.unit_unsupported", unit=unit, units=", ".join(MASS_UNITS))
            return None
        return _plain(value * factor)

    def party(self, node: etree._Element | None, *, address: bool = True) -> dict[str, Any] | None:
        if node is None:
            return None
        party: dict[str, Any] = {}
        for key, path in (("id", "ID"), ("name", "Name")):
            value = self.text(node, path)
            if value is not None:
                party[key] = value
        country = self.text(node, "Address/CountryCode")
        if country is not None:
            party["country"] = country.upper()
        if address:
            lines = [self.text(node, "Address/Line"), " ".join(filter(None, [self.text(node, "Address/PostcodeID"), self.text(node, "Address/CityName")]))]
            joined = ", ".join(line for line in lines if line)
            if joined:
                party["address"] = joined
        return party or None

    def documents(self, *, produced: bool = False) -> list[tuple[etree._Element, bool]]:
        """The shipment's previous documents, then, as fallbacks (flag True), its goods items'
        (a sender may give the bill of lading or the entry summary declaration on each item only)
        and, when ``produced``, the documents produced (``AdditionalDocument`` of category N)."""
        d = self.declaration
        found = [(e, False) for e in self.all(d, "GoodsShipment/PreviousDocument")]
        found += [(e, True) for e in self.all(d, "GoodsShipment/GovernmentAgencyGoodsItem/PreviousDocument")]
        if produced:
            for element in self.all(d, "AdditionalDocument") + self.all(d, "GoodsShipment/GovernmentAgencyGoodsItem/AdditionalDocument"):
                if (self.text(element, "CategoryCode") or "N").upper() == "N":
                    found.append((element, True))
        return found

    def pick(self, documents: list[tuple[etree._Element, bool]]) -> str | None:
        """The first document's ID; a fallback's is taken only when it is a reference Avance
        can hold (a produced document's ID often carries its date: ``0567/202 21.01.2025``)."""
        for document, fallback in documents:
            identifier = self.text(document, "ID")
            if identifier and (not fallback or REFERENCE.fullmatch(identifier)):
                return identifier
        return None

    def previous_document(self, codes: frozenset[str] | tuple[str, ...]) -> str | None:
        documents = self.documents()
        for code in codes:  # in order of preference
            found = self.pick([(e, f) for e, f in documents if (self.text(e, "TypeCode") or "").upper() == code])
            if found:
                return found
        return None

    def transport_document(self) -> str | None:
        """The transport document: a previous document of a transport type (shipment, then
        items), else a document produced (``AdditionalDocument``, category N) of that type."""
        return self.pick([(e, f) for e, f in self.documents(produced=True) if (self.text(e, "TypeCode") or "") in TRANSPORT_DOCUMENT_READ])

    def ucr(self) -> str | None:
        d = self.declaration
        return (
            self.text(d, "GoodsShipment/UCR/ID")
            or self.text(d, "GoodsShipment/UCR/TraderAssignedReferenceID")
            or self.previous_document((UCR_CODE,))
            or self.item_text("UCR/ID")
            or self.item_text("UCR/TraderAssignedReferenceID")
        )

    def item_text(self, path: str) -> str | None:
        """The first goods item's value at ``path`` (for what a sender gives per item only)."""
        for item in self.all(self.declaration, "GoodsShipment/GovernmentAgencyGoodsItem"):
            value = self.text(item, path)
            if value is not None:
                return value
        return None

    def item_party(self, role: str, *, address: bool = True) -> dict[str, Any] | None:
        """A party given on the goods items only (``GovernmentAgencyGoodsItem/Consignee``...):
        the first item's."""
        for item in self.all(self.declaration, "GoodsShipment/GovernmentAgencyGoodsItem"):
            party = self.party(self.find(item, role), address=address)
            if party is not None:
                return party
        return None

    def charges(self, node: etree._Element, currency: str | None) -> dict[str, Decimal]:
        """The freight and insurance of a ``CustomsValuation`` (``freight``, ``insurance``)."""
        found: dict[str, Decimal] = {}
        freight = self.amount(node, "FreightChargeAmount", currency)
        if freight is not None:
            found["freight"] = Decimal(freight[0])
        for charge in self.all(node, "ChargeDeduction"):
            code = (self.text(charge, "ChargesTypeCode") or "").upper()
            value = self.amount(charge, "OtherChargeDeductionAmount", currency)
            if value is None:
                continue
            if code in INSURANCE_CODES:
                found["insurance"] = found.get("insurance", Decimal(0)) + Decimal(value[0])
            elif code in FREIGHT_CODES and freight is None:
                found["freight"] = found.get("freight", Decimal(0)) + Decimal(value[0])
        return found

    def classification(self, item: etree._Element) -> str | None:
        main: str | None = None
        national = ""
        for classification in self.all(item, "Commodity/Classification"):
            code = (self.text(classification, "IdentificationTypeCode") or "").upper()
            value = (self.text(classification, "ID") or "").replace(".", "").replace(" ", "")
            if not value:
                continue
            if main is None and (code in CLASSIFICATION_READ or not code):
                main = value
            elif code == "TRC" and not national:  # the TARIC subdivision after a CN code
                national = value
        if main is None:
            return None
        return main + national if len(main) == 8 and len(national) == 2 else main

    def procedure(self, item: etree._Element) -> str | None:
        for procedure in self.all(item, "GovernmentProcedure"):
            current = self.text(procedure, "CurrentCode") or ""
            previous = self.text(procedure, "PreviousCode")
            if len(current) == 4 and previous is None:
                return current
            if len(current) == 2:
                return current + (previous if previous is not None and len(previous) == 2 else "00")
        return None

    def regime(self, item: etree._Element) -> str | None:
        for duty in self.all(item, "Commodity/DutyTaxFee"):
            code = self.text(duty, "DutyRegimeCode")
            if code:
                return "community" if code.startswith("3") else "general"
        return None

    def origin(self, item: etree._Element) -> str | None:
        for origin in self.all(item, "Origin"):
            code = self.text(origin, "CountryCode")
            if code:
                return code.upper()
        return None

    def tariff_quantity(self, item: etree._Element, target: dict[str, Any]) -> None:
        found = self.decimal(item, "Commodity/GoodsMeasure/TariffQuantity")
        if found is not None:
            value, element = found
            target["supplementary_quantity"] = _plain(value)
            unit = (element.get("unitCode") or "").strip()
            if unit:
                target["supplementary_unit"] = unit

    def currency(self) -> str | None:
        invoice = self.find(self.declaration, "InvoiceAmount")
        if invoice is not None and invoice.get("currencyID"):
            return invoice.get("currencyID")
        return self.text(self.declaration, "CurrencyExchange/CurrencyTypeCode")

    # -- import declaration --

    def declaration_body(self) -> dict[str, Any]:
        d, body = self.declaration, {"type_code": "IM"}
        items = [self.goods_item(item) for item in self.all(d, "GoodsShipment/GovernmentAgencyGoodsItem")]
        _put(body, "lrn", self.text(d, "FunctionalReferenceID"))
        procedures = [item.pop("_procedure", None) for item in items]
        main = next((p for p in procedures if p), None)
        _put(body, "procedure_code", main)
        for item, procedure in zip(items, procedures):
            if procedure and procedure != main:
                item["procedure_code"] = procedure
        _put(body, "declarant", self.party(self.find(d, "Declarant")))
        _put(body, "importer", self.party(self.find(d, "GoodsShipment/Importer")))
        _put(body, "exporter", self.party(self.find(d, "Exporter")) or self.party(self.find(d, "GoodsShipment/Seller")) or self.item_party("Seller"))
        _put(
            body,
            "consignor",
            self.party(self.find(d, "GoodsShipment/Consignor"))
            or self.party(self.find(d, "Consignment/Consignor"))
            or self.item_party("Consignor")
            or self.party(self.find(d, "Consignment/ConsignmentItem/Consignor")),
        )
        _put(body, "consignee", self.party(self.find(d, "GoodsShipment/Consignee")) or self.item_party("Consignee"))
        _put(body, "office_code", self.text(d, "DeclarationOfficeID") or self.text(d, "PresentationOffice/ID"))
        mode = self.text(d, "BorderTransportMeans/ModeCode") or self.text(d, "GoodsShipment/Consignment/ArrivalTransportMeans/ModeCode")
        if mode is not None and mode.isdigit():
            body["transport_mode_code"] = int(mode)
        means = {
            k: v
            for k, v in (
                ("identification", self.text(d, "BorderTransportMeans/ID") or self.text(d, "GoodsShipment/Consignment/ArrivalTransportMeans/ID")),
                ("name", self.text(d, "BorderTransportMeans/Name") or self.text(d, "GoodsShipment/Consignment/ArrivalTransportMeans/Name")),
                ("nationality", (self.text(d, "BorderTransportMeans/RegistrationNationalityCode") or "").upper() or None),
            )
            if v
        }
        _put(body, "transport_means", means or None)
        _put(body, "transport_document_reference", self.transport_document())
        _put(body, "manifest_reference", self.previous_document(MANIFEST_CODES))
        _put(body, "ucr", self.ucr())
        if any(self.text(info, "StatementCode") == SPLIT_STATEMENT for info in self.all(d, "AdditionalInformation")):
            body["split_consignment"] = True
        incoterm = self.text(d, "GoodsShipment/TradeTerms/ConditionCode")
        _put(body, "incoterm", incoterm.upper() if incoterm else None)
        currency = self.currency()
        invoice = self.amount(d, "InvoiceAmount", None)
        if invoice is not None:
            body["invoice_amount"] = invoice[0]
        else:  # the DMS profile gives the item prices only: their sum is the invoice amount
            prices = [Decimal(item["invoice_amount"]) for item in items if "invoice_amount" in item]
            if prices and len(prices) == len(items):
                body["invoice_amount"] = _plain(sum(prices, Decimal(0)))
        if currency is None:
            currency = next((c for c in (item.pop("_currency", None) for item in items) if c), None)
        for item in items:
            code = item.pop("_currency", None)
            if currency is not None and code is not None and code != currency:
                self.issues.append(Issue(element_path(self.root, d), "format.wco.currency_mismatch", {"element": element_path(self.root, d), "line": d.sourceline or 0, "found": code, "expected": currency}))
        _put(body, "invoice_currency", currency)
        valuation = self.find(d, "GoodsShipment/CustomsValuation")
        charges = self.charges(valuation, currency) if valuation is not None else {}
        given = set(charges)
        for element in self.all(d, "GoodsShipment/GovernmentAgencyGoodsItem/CustomsValuation"):  # per item: summed, unless the shipment gives it
            for kind, value in self.charges(element, currency).items():
                if kind not in given:
                    charges[kind] = charges.get(kind, Decimal(0)) + value
        if "freight" in charges:
            body["freight_amount"] = _plain(charges["freight"])
        if "insurance" in charges:
            body["insurance_amount"] = _plain(charges["insurance"])
        count = self.integer(d, "GoodsItemQuantity")
        body["goods_item_quantity"] = count if count is not None else len(items)
        _put(body, "total_package_quantity", self.integer(d, "TotalPackageQuantity"))
        containers = []
        for equipment in self.all(d, "GoodsShipment/Consignment/TransportEquipment"):
            identifier = self.text(equipment, "ID")
            if identifier:
                seals = [s for s in (self.text(seal, "ID") for seal in self.all(equipment, "Seal")) if s]
                containers.append({"id": identifier.upper(), "seals": seals})
        if containers:
            body["containers"] = containers
        body["goods_items"] = items
        return body

    def goods_item(self, item: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _put(out, "sequence", self.integer(item, "SequenceNumeric"))
        _put(out, "hs_code", self.classification(item))
        _put(out, "description", self.text(item, "Commodity/Description"))
        _put(out, "origin_country", self.origin(item))
        out["_procedure"] = self.procedure(item)
        _put(out, "duty_regime", self.regime(item))
        _put(out, "net_mass", self.mass(item, "Commodity/GoodsMeasure/NetNetWeightMeasure"))
        _put(out, "gross_mass", self.mass(item, "Commodity/GoodsMeasure/GrossMassMeasure"))
        self.tariff_quantity(item, out)
        price = self.amount(item, "Commodity/InvoiceLine/ItemChargeAmount", None)
        if price is not None:
            out["invoice_amount"], out["_currency"] = price
        packages = []
        for packaging in self.all(item, "Packaging"):
            package: dict[str, Any] = {}
            _put(package, "quantity", self.integer(packaging, "QuantityQuantity"))
            _put(package, "type_code", self.text(packaging, "TypeCode"))
            _put(package, "marks", self.text(packaging, "MarksNumbersID"))
            if package:
                packages.append(package)
        if packages:
            out["packages"] = packages
        containers = [c.upper() for c in (self.text(e, "ID") for e in self.all(item, "Commodity/TransportEquipment")) if c]
        if containers:
            out["container_ids"] = containers
        return out

    # -- export notice --

    def export_body(self) -> dict[str, Any]:
        d, body = self.declaration, {}
        _put(body, "export_declaration_reference", self.text(d, "ID") or self.text(d, "FunctionalReferenceID"))
        _put(body, "ucr", self.ucr())
        _put(body, "transport_document_reference", self.transport_document())
        _put(
            body,
            "exporter",
            self.party(self.find(d, "Exporter"), address=False) or self.party(self.find(d, "GoodsShipment/Seller"), address=False) or self.item_party("Seller", address=False),
        )
        _put(body, "consignee", self.party(self.find(d, "GoodsShipment/Consignee"), address=False) or self.item_party("Consignee", address=False))
        country = self.text(d, "GoodsShipment/ExportCountry/ID") or self.item_text("ExportCountry/ID")
        _put(body, "exporting_country", country.upper() if country else None)
        country = self.text(d, "GoodsShipment/Destination/CountryCode") or self.item_text("Destination/CountryCode")
        _put(body, "destination_country", country.upper() if country else None)
        _put(body, "office_of_exit", self.text(d, "ExitOffice/ID"))
        _put(body, "export_date", self.date(d, "AcceptanceDateTime") or self.date(d, "IssueDateTime"))
        currency = self.currency()
        items = []
        for element in self.all(d, "GoodsShipment/GovernmentAgencyGoodsItem"):
            item: dict[str, Any] = {}
            _put(item, "sequence", self.integer(element, "SequenceNumeric"))
            _put(item, "hs_code", self.classification(element))
            _put(item, "description", self.text(element, "Commodity/Description"))
            _put(item, "origin_country", self.origin(element))
            _put(item, "net_mass", self.mass(element, "Commodity/GoodsMeasure/NetNetWeightMeasure"))
            self.tariff_quantity(element, item)
            value = self.amount(element, "StatisticalValueAmount", None)
            if value is not None:
                code = value[1] or currency
                if code is None:
                    self.issue(self.find(element, "StatisticalValueAmount"), "format.wco.currency_missing")  # type: ignore[arg-type]
                else:
                    item["statistical_value"] = {"amount": value[0], "currency": code}
            items.append(item)
        body["items"] = items
        totals: dict[str, Any] = {}
        count = self.integer(d, "GoodsItemQuantity")
        totals["goods_item_quantity"] = count if count is not None else len(items)
        masses = [Decimal(i["net_mass"]) for i in items if "net_mass" in i]
        if len(masses) == len(items):
            totals["net_mass"] = _plain(sum(masses, Decimal(0)))
        values = [i["statistical_value"] for i in items if "statistical_value" in i]
        if values and len(values) == len(items) and len({v["currency"] for v in values}) == 1:
            totals["statistical_value"] = {"amount": _plain(sum((Decimal(v["amount"]) for v in values), Decimal(0))), "currency": values[0]["currency"]}
        body["totals"] = totals
        return body

    def date(self, node: etree._Element, path: str) -> str | None:
        holder = self.find(node, path)
        element = None if holder is None else next((c for c in holder if isinstance(c.tag, str) and etree.QName(c).localname == "DateTimeString"), None)
        if element is None:
            return None
        text = (element.text or "").strip()
        year, month, day = text[0:4], text[4:6], text[6:8]
        try:
            return date(int(year), int(month), int(day)).isoformat()
        except ValueError:
            self.issue(element, "format.wco.date_invalid", value=text)
            return None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _plain(value: Decimal) -> str:
    """Exact decimal text in plain notation (never ``1E+3``)."""
    return format(value, "f")


def is_dec(root: etree._Element) -> bool:
    """Whether ``root`` is a WCO DM DEC message: a ``Declaration`` in the DEC namespace, bare or
    in the ``MetaData`` envelope (the registry tells it from an ASYCUDA SAD by this)."""
    if not isinstance(root.tag, str):
        return False
    if root.tag == ROOT_TAGS[0]:
        return True
    return root.tag == ROOT_TAGS[1] and root.find(ROOT_TAGS[0]) is not None


def read(data: bytes) -> list[Document]:
    """The document of one DEC message: a declaration (TypeCode IM...) or an export notice
    (EX...). Schema-invalid, not a DEC, or another declaration type -> ``ValidationFailed``."""
    root = parse(data, what=WHAT)
    if not is_dec(root):
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        namespace = etree.QName(root).namespace if isinstance(root.tag, str) else None
        pointer = "/" + name
        raise ValidationFailed([Issue(pointer, "format.wco.not_dec", {"root": name, "namespace": namespace or "-", "expected": DEC_NS})])
    issues = validate(dec_schema(), root)
    if issues:
        raise ValidationFailed(issues)
    declaration = root if root.tag == ROOT_TAGS[0] else root.find(ROOT_TAGS[0])
    assert declaration is not None  # is_dec found it
    reader = _Reader(root, declaration)
    type_code = (reader.text(declaration, "TypeCode") or "").upper()
    type_element = reader.find(declaration, "TypeCode")
    if type_code.startswith("IM"):
        document = Document("declaration", reader.declaration_body())
    elif type_code.startswith("EX"):
        document = Document("export_notice", reader.export_body())
    else:
        pointer = element_path(root, type_element if type_element is not None else declaration)
        key = "format.wco.type_unsupported" if type_code else "format.wco.type_missing"
        raise ValidationFailed([Issue(pointer, key, {"element": pointer, "code": type_code})])
    if reader.issues:
        raise ValidationFailed(reader.issues)
    return [document]


# --- writing --------------------------------------------------------------------------------------


class _BodyError(Exception):
    """A document body that is not shaped as its kind says (caught and reported as an issue)."""

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(pointer, reason)
        self.pointer = pointer
        self.reason = reason


def _sub(parent: etree._Element, tag: str, text: Any = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{DEC_NS}}}{tag}", {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = str(text)
    return element


def _opt(parent: etree._Element, tag: str, value: Any, **attributes: str) -> etree._Element | None:
    if value is None or value == "" or value == []:
        return None
    return _sub(parent, tag, value, **attributes)


def _number(value: Any, pointer: str, fraction_digits: int) -> str:
    """Decimal text as the schema takes it: plain notation, trailing zeros beyond the element's
    fraction digits dropped (a value with more significant digits fails the schema check)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise _BodyError(pointer, "a number is expected")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _BodyError(pointer, "a number is expected") from None
    if not number.is_finite():
        raise _BodyError(pointer, "a finite number is expected")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > fraction_digits:
        shorter = number.quantize(Decimal(1).scaleb(-fraction_digits))
        if shorter == number:
            number = shorter
    return _plain(number)


def _dict(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _BodyError(pointer, "an object is expected")
    return value


def _list(value: Any, pointer: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _BodyError(pointer, "a list is expected")
    return value


def _party(parent: etree._Element, tag: str, value: Any, pointer: str) -> None:
    if value is None:
        return
    party = _dict(value, pointer)
    element = _sub(parent, tag)
    _opt(element, "Name", party.get("name"))
    _opt(element, "ID", party.get("id"))
    if party.get("country") or party.get("address"):
        address = _sub(element, "Address")
        _opt(address, "CountryCode", party.get("country"))
        _opt(address, "Line", party.get("address"))


def _envelope() -> tuple[etree._Element, etree._Element]:
    meta = etree.Element(f"{{{MD_NS}}}MetaData", nsmap={"md": MD_NS, None: DEC_NS})
    etree.SubElement(meta, f"{{{MD_NS}}}WCODataModelVersionCode").text = "3.6"
    etree.SubElement(meta, f"{{{MD_NS}}}WCOTypeName").text = "DEC"
    declaration = etree.SubElement(meta, f"{{{DEC_NS}}}Declaration")
    return meta, declaration


def _previous_document(parent: etree._Element, type_code: str, identifier: Any) -> None:
    if identifier:
        document = _sub(parent, "PreviousDocument")
        _sub(document, "CategoryCode", "N")
        _sub(document, "ID", identifier)
        _sub(document, "TypeCode", type_code)


def _declaration_xml(body: dict[str, Any]) -> etree._Element:
    meta, d = _envelope()
    items = [_dict(item, f"/goods_items/{i}") for i, item in enumerate(_list(body.get("goods_items"), "/goods_items"))]
    currency = body.get("invoice_currency")
    _sub(d, "FunctionCode", "9")
    _opt(d, "FunctionalReferenceID", body.get("lrn"))
    _sub(d, "TypeCode", body.get("type_code") or "IM")
    _opt(d, "GoodsItemQuantity", body.get("goods_item_quantity"))
    _opt(d, "DeclarationOfficeID", body.get("office_code"))
    if body.get("invoice_amount") is not None:
        _sub(d, "InvoiceAmount", _number(body["invoice_amount"], "/invoice_amount", 3), currencyID=currency)
    masses = [item.get("gross_mass") for item in items]
    if items and all(m is not None for m in masses):
        total = sum((Decimal(_number(m, f"/goods_items/{i}/gross_mass", 6)) for i, m in enumerate(masses)), Decimal(0))
        _sub(d, "TotalGrossMassMeasure", _number(total, "/goods_items", 6), unitCode="KGM")
    _opt(d, "TotalPackageQuantity", body.get("total_package_quantity"))
    if body.get("split_consignment") is True:
        info = _sub(d, "AdditionalInformation")
        _sub(info, "StatementCode", SPLIT_STATEMENT)
        _sub(info, "StatementDescription", "Partial clearance of the transport document")
    means = _dict(body.get("transport_means") or {}, "/transport_means")
    if means or body.get("transport_mode_code") is not None:
        border = _sub(d, "BorderTransportMeans")
        _opt(border, "Name", means.get("name"))
        _opt(border, "ID", means.get("identification"))
        _opt(border, "RegistrationNationalityCode", means.get("nationality"))
        _opt(border, "ModeCode", body.get("transport_mode_code"))
    if currency:
        exchange = _sub(d, "CurrencyExchange")
        _sub(exchange, "CurrencyTypeCode", currency)
    _party(d, "Declarant", body.get("declarant"), "/declarant")
    _party(d, "Exporter", body.get("exporter"), "/exporter")
    shipment = _sub(d, "GoodsShipment")
    _party(shipment, "Consignee", body.get("consignee"), "/consignee")
    containers = [_dict(c, f"/containers/{i}") for i, c in enumerate(_list(body.get("containers"), "/containers"))]
    consignment = _sub(shipment, "Consignment")
    _sub(consignment, "ContainerCode", "1" if containers else "0")
    for n, container in enumerate(containers, start=1):
        equipment = _sub(consignment, "TransportEquipment")
        _sub(equipment, "SequenceNumeric", n)
        _opt(equipment, "ID", container.get("id"))
        for m, seal in enumerate(_list(container.get("seals"), f"/containers/{n - 1}/seals"), start=1):
            element = _sub(equipment, "Seal")
            _sub(element, "SequenceNumeric", m)
            _opt(element, "ID", seal)
    _party(shipment, "Consignor", body.get("consignor"), "/consignor")
    freight, insurance = body.get("freight_amount"), body.get("insurance_amount")
    if freight is not None or insurance is not None:
        valuation = _sub(shipment, "CustomsValuation")
        if freight is not None:
            _sub(valuation, "FreightChargeAmount", _number(freight, "/freight_amount", 3), currencyID=currency)
        if insurance is not None:
            charge = _sub(valuation, "ChargeDeduction")
            _sub(charge, "ChargesTypeCode", "67")
            _sub(charge, "OtherChargeDeductionAmount", _number(insurance, "/insurance_amount", 3), currencyID=currency)
    main_procedure = body.get("procedure_code") or "4000"
    for i, item in enumerate(items):
        _goods_item(shipment, item, f"/goods_items/{i}", currency, main_procedure)
    _party(shipment, "Importer", body.get("importer"), "/importer")
    mode = body.get("transport_mode_code")
    _previous_document(shipment, MANIFEST_CODES[0], body.get("manifest_reference"))
    _previous_document(shipment, TRANSPORT_DOCUMENT_CODES.get(mode if isinstance(mode, int) else 1, "705"), body.get("transport_document_reference"))
    if body.get("incoterm"):
        terms = _sub(shipment, "TradeTerms")
        _sub(terms, "ConditionCode", body["incoterm"])
    if body.get("ucr"):
        _sub(_sub(shipment, "UCR"), "ID", body["ucr"])
    return meta


def _goods_item(shipment: etree._Element, item: dict[str, Any], pointer: str, currency: Any, main_procedure: str) -> None:
    element = _sub(shipment, "GovernmentAgencyGoodsItem")
    _opt(element, "SequenceNumeric", item.get("sequence"))
    commodity = _sub(element, "Commodity")
    _opt(commodity, "Description", item.get("description"))
    if item.get("hs_code"):
        classification = _sub(commodity, "Classification")
        _sub(classification, "ID", item["hs_code"])
        _sub(classification, "IdentificationTypeCode", CLASSIFICATION_TYPE)
    regime = item.get("duty_regime") or "general"
    if regime not in REGIME_CODES:
        raise _BodyError(pointer + "/duty_regime", "general or community is expected")
    _sub(_sub(commodity, "DutyTaxFee"), "DutyRegimeCode", REGIME_CODES[regime])
    measures = [(tag, item.get(key)) for tag, key in (("GrossMassMeasure", "gross_mass"), ("NetNetWeightMeasure", "net_mass"), ("TariffQuantity", "supplementary_quantity"))]
    if any(value is not None for _, value in measures):
        measure = _sub(commodity, "GoodsMeasure")
        for tag, value in measures:
            if value is not None:
                unit = item.get("supplementary_unit") if tag == "TariffQuantity" else "KGM"
                _sub(measure, tag, _number(value, pointer, 6), unitCode=unit)
    if item.get("invoice_amount") is not None:
        _sub(_sub(commodity, "InvoiceLine"), "ItemChargeAmount", _number(item["invoice_amount"], pointer + "/invoice_amount", 3), currencyID=currency)
    for n, container in enumerate(_list(item.get("container_ids"), pointer + "/container_ids"), start=1):
        equipment = _sub(commodity, "TransportEquipment")
        _sub(equipment, "SequenceNumeric", n)
        _sub(equipment, "ID", container)
    procedure = str(item.get("procedure_code") or main_procedure)
    government = _sub(element, "GovernmentProcedure")
    _sub(government, "CurrentCode", procedure[:2])
    _opt(government, "PreviousCode", procedure[2:4] or None)
    if item.get("origin_country"):
        _sub(_sub(element, "Origin"), "CountryCode", item["origin_country"])
    for n, package in enumerate(_list(item.get("packages"), pointer + "/packages"), start=1):
        package = _dict(package, f"{pointer}/packages/{n - 1}")
        packaging = _sub(element, "Packaging")
        _sub(packaging, "SequenceNumeric", n)
        _opt(packaging, "MarksNumbersID", package.get("marks"))
        _opt(packaging, "QuantityQuantity", package.get("quantity"))
        _opt(packaging, "TypeCode", package.get("type_code"))


def _export_xml(body: dict[str, Any]) -> etree._Element:
    meta, d = _envelope()
    items = [_dict(item, f"/items/{i}") for i, item in enumerate(_list(body.get("items"), "/items"))]
    totals = _dict(body.get("totals") or {}, "/totals")
    if body.get("export_date"):
        text = str(body["export_date"]).replace("-", "")[:8]
        etree.SubElement(_sub(d, "AcceptanceDateTime"), f"{{{DEC_DS_NS}}}DateTimeString", formatCode="102", nsmap={"ds": DEC_DS_NS}).text = text
    _sub(d, "FunctionCode", "9")
    _opt(d, "ID", body.get("export_declaration_reference"))
    _sub(d, "TypeCode", "EX")
    count = totals.get("goods_item_quantity", len(items) or None)
    _opt(d, "GoodsItemQuantity", count)
    if body.get("office_of_exit"):
        _sub(_sub(d, "ExitOffice"), "ID", body["office_of_exit"])
    _party(d, "Exporter", body.get("exporter"), "/exporter")
    shipment = _sub(d, "GoodsShipment")
    _party(shipment, "Consignee", body.get("consignee"), "/consignee")
    if body.get("destination_country"):
        _sub(_sub(shipment, "Destination"), "CountryCode", body["destination_country"])
    if body.get("exporting_country"):
        _sub(_sub(shipment, "ExportCountry"), "ID", body["exporting_country"])
    for i, item in enumerate(items):
        pointer = f"/items/{i}"
        element = _sub(shipment, "GovernmentAgencyGoodsItem")
        _opt(element, "SequenceNumeric", item.get("sequence"))
        value = item.get("statistical_value")
        if value is not None:
            value = _dict(value, pointer + "/statistical_value")
            _sub(element, "StatisticalValueAmount", _number(value.get("amount"), pointer + "/statistical_value/amount", 3), currencyID=value.get("currency"))
        commodity = _sub(element, "Commodity")
        _opt(commodity, "Description", item.get("description"))
        if item.get("hs_code"):
            classification = _sub(commodity, "Classification")
            _sub(classification, "ID", item["hs_code"])
            _sub(classification, "IdentificationTypeCode", CLASSIFICATION_TYPE)
        if item.get("net_mass") is not None or item.get("supplementary_quantity") is not None:
            measure = _sub(commodity, "GoodsMeasure")
            if item.get("net_mass") is not None:
                _sub(measure, "NetNetWeightMeasure", _number(item["net_mass"], pointer + "/net_mass", 6), unitCode="KGM")
            if item.get("supplementary_quantity") is not None:
                _sub(measure, "TariffQuantity", _number(item["supplementary_quantity"], pointer + "/supplementary_quantity", 6), unitCode=item.get("supplementary_unit"))
        if item.get("origin_country"):
            _sub(_sub(element, "Origin"), "CountryCode", item["origin_country"])
    _previous_document(shipment, "705", body.get("transport_document_reference"))
    if body.get("ucr"):
        _sub(_sub(shipment, "UCR"), "ID", body["ucr"])
    return meta


def write_one(doc: Document) -> bytes:
    """One declaration or export notice as a DEC message in the ``MetaData`` envelope, checked
    against the schema. A cargo report has no DEC form (``format.wco.kind_unsupported``); a value
    the DEC cannot hold (too long, too many decimals) -> ``format.wco.cannot_write``."""
    if doc.kind not in ("declaration", "export_notice"):
        raise ValidationFailed([Issue("", "format.wco.kind_unsupported", {"kind": doc.kind})])
    try:
        body = _dict(doc.body, "")
        tree = _declaration_xml(body) if doc.kind == "declaration" else _export_xml(body)
    except _BodyError as error:
        raise ValidationFailed([Issue(error.pointer, "format.wco.body_invalid", {"field": error.pointer or "/", "reason": error.reason})]) from None
    except (TypeError, ValueError) as error:  # lxml refuses a value it cannot write (a control character, a non-text key)
        raise ValidationFailed([Issue("", "format.wco.body_invalid", {"field": "/", "reason": str(error)[:200]})]) from None
    problems = validate(dec_schema(), tree)
    if problems:
        raise ValidationFailed([Issue(p.pointer, "format.wco.cannot_write", p.params) for p in problems])
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write(docs: list[Document]) -> bytes:
    """One DEC message: a DEC carries a single declaration, so more than one document is refused
    (``format.wco.one_per_message``: call ``write_one`` for each)."""
    if len(docs) != 1:
        raise ValidationFailed([Issue("", "format.wco.one_per_message", {"count": len(docs)})])
    return write_one(docs[0])
