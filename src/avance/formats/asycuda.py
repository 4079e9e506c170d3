"""ASYCUDA World SAD XML: an export read into Avance declarations (header and items), and an
Avance pre-arrival declaration written as a SAD for lodging into ASYCUDA World.

Which element holds which field is not in this code: it is the path mapping
``mappings/asycuda-sad.yaml`` (the same mechanism as the column mappings, see ``mapping.py``),
which an administration copies and edits for its own export. This module adds what is ASYCUDA's
own: the ``<ASYCUDA>`` root, one declaration per file, the element order of the SAD, and the
procedure code that the SAD keeps on every item. See docs/formats/asycuda.md.
"""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any

from lxml import etree

from avance.formats.documents import Document
from avance.formats.mapping import Applier, Mapping, element_path, strip_namespaces
from avance.formats.xml import parse
from avance.kit.datafiles import load_yaml_model
from avance.kit.errors import Issue, ValidationFailed

ROOT_TAG = "ASYCUDA"
"""The root element of an ASYCUDA World SAD document."""

DEFAULT_MAPPING = "asycuda-sad.yaml"


@lru_cache(maxsize=1)
def default_mapping() -> Mapping:
    """The packaged mapping ``mappings/asycuda-sad.yaml``."""
    text = resources.files(__package__).joinpath("mappings", DEFAULT_MAPPING).read_text(encoding="utf-8")
    return load_yaml_model(Mapping, text=text, where=DEFAULT_MAPPING)


def is_sad(root: etree._Element) -> bool:
    """Whether ``root`` is an ASYCUDA World SAD document (its root element is ``<ASYCUDA>``,
    whatever namespace prefix it carries)."""
    tag = root.tag
    return isinstance(tag, str) and etree.QName(tag).localname == ROOT_TAG


def read(data: bytes, mapping: Mapping | None = None) -> list[Document]:
    """The declarations of an ASYCUDA World SAD XML export, through ``mapping`` (default: the
    packaged one). Every problem found is reported at once (``ValidationFailed``): elements that
    are missing or cannot be read, an item count (``count:``) that disagrees with the items."""
    mapping = mapping or default_mapping()
    root = strip_namespaces(parse(data, what="ASYCUDA"))
    applier = Applier(mapping)
    records = applier.records(root)
    if not records:
        if not is_sad(root):
            raise ValidationFailed([Issue("/" + str(root.tag), "format.asycuda.not_sad", {"root": root.tag})])
        raise ValidationFailed([Issue("/" + str(root.tag), "format.asycuda.no_declaration", {"record": mapping.record or ROOT_TAG})])
    documents: list[Document] = []
    issues: list[Issue] = []
    for record in records:
        found = applier.read_record(record)
        issues.extend(found.issues)
        body = found.document
        if mapping.items is not None and not body.get("goods_items"):
            issues.append(Issue(element_path(record) + "/" + mapping.items.path, "format.asycuda.no_items", {"path": mapping.items.path}))
        issues.extend(_charges_in_invoice_currency(body, mapping, element_path(record)))
        _item_procedures_read(body)
        documents.append(Document("declaration", body))
    if issues:
        raise ValidationFailed(issues)
    return documents


def write(docs: list[Document], mapping: Mapping | None = None) -> bytes:
    """The SAD XML of one declaration: ASYCUDA World takes one declaration per file, so anything
    but exactly one document is refused (``format.asycuda.one_per_file``); see ``write_one``."""
    if len(docs) != 1:
        raise ValidationFailed([Issue("", "format.asycuda.one_per_file", {"count": len(docs)})])
    return write_one(docs[0], mapping)


def write_one(doc: Document, mapping: Mapping | None = None) -> bytes:
    """An Avance declaration as an ASYCUDA World SAD XML document (UTF-8), through ``mapping``."""
    if doc.kind != "declaration":
        raise ValidationFailed([Issue("", "format.asycuda.not_declaration", {"kind": doc.kind})])
    mapping = mapping or default_mapping()
    body = _item_procedures_written(doc.body)
    try:
        root = Applier(mapping).write_xml([body])
    except ValueError as exc:  # a mapping whose items path cannot be written
        raise ValidationFailed([Issue("", "format.mapping.not_writable", {"detail": str(exc)})]) from None
    if root.tag == ROOT_TAG:
        _in_sad_order(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


_CENT = Decimal("0.01")


def _charges_in_invoice_currency(body: dict[str, Any], mapping: Mapping, where: str) -> list[Issue]:
    """Avance holds freight and insurance in the invoice currency; a SAD gives each its own
    currency and rate. A charge in another currency is converted through the rates (its amount
    x its rate / the invoice's rate, to the cent); without both rates it is refused. The mapping's
    read-only ``_…`` fields (``_invoice_rate``, ``_freight_currency``, ``_freight_rate``,
    ``_insurance_currency``, ``_insurance_rate``) give what is needed and are taken out of the body."""
    extras = {name: body.pop(name) for name in [n for n in body if n.startswith("_")]}
    currency = body.get("invoice_currency")
    issues: list[Issue] = []
    for charge in ("freight", "insurance"):
        own, amount = extras.get(f"_{charge}_currency"), body.get(f"{charge}_amount")
        if amount is None or not own or not currency or str(own).upper() == str(currency).upper():
            continue
        try:
            value = Decimal(str(amount))
            if value == 0:
                continue  # nothing, in any currency
            rate, invoice_rate = Decimal(str(extras.get(f"_{charge}_rate") or 0)), Decimal(str(extras.get("_invoice_rate") or 0))
        except InvalidOperation:
            continue  # the amount itself is reported when the declaration is checked
        if rate <= 0 or invoice_rate <= 0:
            source = mapping.fields[f"_{charge}_rate" if rate <= 0 and f"_{charge}_rate" in mapping.fields else f"_{charge}_currency"]
            at = where + "/" + source.where
            issues.append(Issue(at, f"format.asycuda.{charge}_rate", {"where": at, "currency": own, "invoice_currency": currency}))
            continue
        body[f"{charge}_amount"] = str((value * rate / invoice_rate).quantize(_CENT, rounding=ROUND_HALF_UP))
    return issues


def _item_procedures_read(body: dict[str, Any]) -> None:
    """The SAD keeps the procedure on every item: an item's procedure equal to the declaration's
    is the declaration's (Avance leaves it out)."""
    for item in body.get("goods_items") or []:
        if isinstance(item, dict) and item.get("procedure_code") is not None and item.get("procedure_code") == body.get("procedure_code"):
            del item["procedure_code"]


def _item_procedures_written(body: dict[str, Any]) -> dict[str, Any]:
    """Every item of a SAD carries its procedure: an Avance item without its own takes the
    declaration's."""
    body = copy.deepcopy(body)
    procedure = body.get("procedure_code") or "4000"  # Avance's default procedure (release for home use)
    body.setdefault("procedure_code", procedure)
    for item in body.get("goods_items") or []:
        if isinstance(item, dict) and not item.get("procedure_code"):
            item["procedure_code"] = procedure
    return body


# The order of the SAD's elements (ASYCUDA World), each element's children in the order the
# SAD gives them; written documents are put in this order. Elements it does not know (a
# country's own) keep their place after those it knows.
_SAD_LAYOUT = """
<ASYCUDA>
 <Export_release/><Assessment_notice/><Global_taxes/>
 <Property><Sad_flow/><Forms><Number_of_the_form/><Total_number_of_forms/></Forms>
  <Nbers><Number_of_loading_lists/><Total_number_of_items/><Number_of_items/><Total_number_of_packages/></Nbers>
  <Place_of_declaration/><Date_of_declaration/><Selected_page/></Property>
 <Identification><Office_segment><Customs_clearance_office_code/><Customs_Clearance_office_name/></Office_segment>
  <Type><Type_of_declaration/><Declaration_gen_procedure_code/><Type_of_transit_document/></Type>
  <Manifest_reference_number/><Registration/><Assessment/><receipt/></Identification>
 <Traders><Exporter><Exporter_code/><Exporter_name/></Exporter><Consignee><Consignee_code/><Consignee_name/></Consignee>
  <Financial><Financial_code/><Financial_name/></Financial></Traders>
 <Declarant><Declarant_code/><Declarant_name/><Declarant_representative/><Reference><Year/><Number/></Reference></Declarant>
 <General_information><Country><Country_first_destination/><Trading_country/>
   <Export><Export_country_code/><Export_country_name/><Export_country_region/></Export>
   <Destination><Destination_country_code/><Destination_country_name/><Destination_country_region/></Destination>
   <Country_of_origin_name/></Country><Value_details/><CAP/><Additional_information/><Comments_free_text/></General_information>
 <Transport><Means_of_transport><Departure_arrival_information><Identity/><Nationality/></Departure_arrival_information>
   <Border_information><Identity/><Nationality/><Mode/></Border_information><Inland_mode_of_transport/></Means_of_transport>
  <Container_flag/><Delivery_terms><Code/><Place/><Situation/></Delivery_terms><Border_office><Code/><Name/></Border_office>
  <Place_of_loading><Code/><Name/><Country/></Place_of_loading><Location_of_goods/></Transport>
 <Financial><Financial_transaction/><Bank/><Terms/><Total_invoice/><Deffered_payment_reference/><Mode_of_payment/><Amounts/><Guarantee/></Financial>
 <Warehouse/><Transit/>
 <Valuation><Calculation_working_mode/><Weight><Gross_weight/></Weight><Total_cost/><Total_CIF/>
  <Gs_Invoice><Amount_national_currency/><Amount_foreign_currency/><Currency_code/><Currency_name/><Currency_rate/></Gs_Invoice>
  <Gs_external_freight><Amount_national_currency/><Amount_foreign_currency/><Currency_code/><Currency_name/><Currency_rate/></Gs_external_freight>
  <Gs_internal_freight/>
  <Gs_insurance><Amount_national_currency/><Amount_foreign_currency/><Currency_code/><Currency_name/><Currency_rate/></Gs_insurance>
  <Gs_other_cost/><Gs_deduction/><Total/></Valuation>
 <Container><Item_Number/><Container_identity/><Container_type/><Empty_full_indicator/><Gross_weight/><Goods_description/>
  <Packages_type/><Packages_number/><Packages_weight/></Container>
 <Item>
  <Packages><Number_of_packages/><Marks1_of_packages/><Marks2_of_packages/><Kind_of_packages_code/><Kind_of_packages_name/></Packages>
  <IncoTerms><Code/><Place/></IncoTerms>
  <Tarification><Tarification_data/><HScode><Commodity_code/><Precision_1/><Precision_2/><Precision_3/><Precision_4/></HScode>
   <Preference_code/><Extended_customs_procedure/><National_customs_procedure/><Quota_code/><Quota/>
   <Supplementary_unit><Suppplementary_unit_code/><Supplementary_unit_code/><Suppplementary_unit_name/><Suppplementary_unit_quantity/><Supplementary_unit_quantity/></Supplementary_unit>
   <Item_price/><Valuation_method_code/><Value_item/><Attached_doc_item/></Tarification>
  <Goods_description><Country_of_origin_code/><Country_of_origin_region/><Description_of_goods/><Commercial_Description/></Goods_description>
  <Previous_doc><Summary_declaration/><Summary_declaration_sl/><Previous_document_reference/><Previous_warehouse_code/></Previous_doc>
  <Licence_number/><Amount_deducted_from_licence/><Quantity_deducted_from_licence/><Free_text_1/><Free_text_2/><Taxation/>
  <Valuation_item><Weight_itm><Gross_weight_itm/><Net_weight_itm/></Weight_itm><Total_cost_itm/><Total_CIF_itm/>
   <Rate_of_adjustement/><Statistical_value/><Alpha_coeficient_of_apportionment/>
   <Item_Invoice><Amount_national_currency/><Amount_foreign_currency/><Currency_code/><Currency_name/><Currency_rate/></Item_Invoice>
  </Valuation_item>
 </Item>
 <Suppliers_documents/>
</ASYCUDA>
"""


@lru_cache(maxsize=1)
def _sad_order() -> dict[tuple[str, ...], dict[str, int]]:
    layout = etree.fromstring(_SAD_LAYOUT.encode())
    order: dict[tuple[str, ...], dict[str, int]] = {}

    def walk(element: etree._Element, chain: tuple[str, ...]) -> None:
        here = chain + (element.tag,)
        children = order.setdefault(here, {})
        for child in element:
            children.setdefault(child.tag, len(children))
            walk(child, here)

    walk(layout, ())
    return order


def _in_sad_order(root: etree._Element) -> None:
    order = _sad_order()

    def sort(element: etree._Element, chain: tuple[str, ...]) -> None:
        here = chain + (element.tag,)
        known = order.get(here, {})
        children = list(element)
        ranked = sorted(range(len(children)), key=lambda i: (known.get(children[i].tag, len(known)), i))
        if ranked != list(range(len(children))):
            for child in children:
                element.remove(child)
            for i in ranked:
                element.append(children[i])
        for child in element:
            sort(child, here)

    sort(root, ())
