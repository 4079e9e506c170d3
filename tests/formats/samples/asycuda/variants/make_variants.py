"""The generator of the varied ASYCUDA World SAD exports beside it (run it to make them again:
``python tests/formats/samples/asycuda/variants/make_variants.py``); each export says in a comment
what it varies."""
from pathlib import Path
from xml.sax.saxutils import escape

OUT = Path(__file__).resolve().parent

def esc(v):
    return escape(str(v))

class Sad:
    def __init__(self, style="null", indent=0, ns=None, attrs=False):
        self.style, self.indent, self.ns, self.attrs = style, indent, ns, attrs
        self.lines = []
        self.depth = 0
    def pad(self):
        return " " * (self.indent * self.depth)
    def empty(self, tag):
        if self.style == "null":
            return f"<{tag}><null/></{tag}>"
        if self.style == "null-indented":
            p = " " * (self.indent * (self.depth + 1))
            return f"<{tag}>\n{p}<null/>\n{self.pad()}</{tag}>"
        if self.style == "open-close":
            return f"<{tag}></{tag}>"
        return f"<{tag}/>"
    def leaf(self, tag, value=None, attr=""):
        if value is None or value == "":
            self.lines.append(self.pad() + self.empty(tag))
        else:
            self.lines.append(f"{self.pad()}<{tag}{attr}>{esc(value)}</{tag}>")
    def open(self, tag, attr=""):
        self.lines.append(f"{self.pad()}<{tag}{attr}>"); self.depth += 1
    def close(self, tag):
        self.depth -= 1; self.lines.append(f"{self.pad()}</{tag}>")
    def block(self, tag, **children):
        self.open(tag)
        for k, v in children.items():
            self.leaf(k, v)
        self.close(tag)
    def text(self, header="", comment=""):
        head = '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + (f"<!-- {comment} -->\n" if comment else "")
        nl = "\n"
        return head + nl.join(self.lines) + nl

def build(name, comment, *, style="null", indent=0, ns=None, country="SN", office="SN-DKR-PORT", lrn="CAD-2026-1",
          declarant=("SN0012345A7", "Transit Diallo SARL"), consignee=("SN0098765B2", "Établissements Ndiaye & Fils"),
          exporter=(None, "Société Générale d'Électroménager"), export_country="FR", items=(), count="auto", count_tag="Total_number_of_items",
          packages_total=None, date="2026-03-02", reg_date=None, mode="1", vessel=("9321483", "GRANDE CÔTE D'IVOIRE", "IT"),
          incoterm="CIF", header_incoterm=True, currency="EUR", rate="655.957", invoice="18500.50", freight="1200", freight_currency=None,
          freight_rate=None, freight_national=None, insurance="92.50", containers=(), manifest="2026/0417", financial_total=None,
          warehouse=None, with_transport=True, with_valuation=True, gen_proc="4", attrs=False, total_invoice_financial=None,
          extra_root_attr=' id="1"', num=str):
    s = Sad(style, indent, ns, attrs)
    root_attr = extra_root_attr + (f' xmlns="{ns}"' if ns else "")
    s.open("ASYCUDA", root_attr)
    s.open("Export_release"); s.leaf("Date_of_exit"); s.leaf("Actual_office_of_exit_code"); s.close("Export_release")
    s.open("Assessment_notice"); [s.leaf("Item_tax_total") for _ in range(3)]; s.close("Assessment_notice")
    s.open("Property"); s.leaf("Sad_flow", "I")
    s.block("Forms", Number_of_the_form="1", Total_number_of_forms=str(max(1, (len(items) + 2) // 3 + 1)))
    s.open("Nbers"); s.leaf("Number_of_loading_lists")
    if count is not None:
        s.leaf(count_tag, str(len(items)) if count == "auto" else count)
    if packages_total is not None:
        s.leaf("Total_number_of_packages", packages_total)
    s.close("Nbers")
    s.leaf("Place_of_declaration"); s.leaf("Date_of_declaration", date); s.leaf("Selected_page", "1"); s.close("Property")
    s.open("Identification")
    s.block("Office_segment", Customs_clearance_office_code=office, Customs_Clearance_office_name="Bureau principal")
    s.block("Type", Type_of_declaration="IM", Declaration_gen_procedure_code=gen_proc, Type_of_transit_document=None)
    s.leaf("Manifest_reference_number", manifest)
    s.block("Registration", Serial_number=None, Number=None, Date=reg_date)
    s.block("Assessment", Serial_number=None, Number=None, Date=None)
    s.close("Identification")
    s.open("Traders")
    s.block("Exporter", Exporter_code=exporter[0], Exporter_name=exporter[1])
    s.block("Consignee", Consignee_code=consignee[0], Consignee_name=consignee[1])
    s.block("Financial", Financial_code=None, Financial_name=None)
    s.close("Traders")
    s.open("Declarant"); s.leaf("Declarant_code", declarant[0]); s.leaf("Declarant_name", declarant[1]); s.leaf("Declarant_representative")
    s.block("Reference", Year="2026", Number=lrn); s.close("Declarant")
    s.open("General_information"); s.open("Country"); s.leaf("Country_first_destination"); s.leaf("Trading_country", export_country)
    s.block("Export", Export_country_code=export_country, Export_country_name=None, Export_country_region=None)
    s.block("Destination", Destination_country_code=country, Destination_country_name=None, Destination_country_region=None)
    s.leaf("Country_of_origin_name", "Divers"); s.close("Country"); s.leaf("Value_details", "0"); s.close("General_information")
    if with_transport:
        s.open("Transport"); s.open("Means_of_transport")
        s.block("Departure_arrival_information", Identity=vessel[0], Nationality=vessel[2])
        s.block("Border_information", Identity=vessel[1], Nationality=vessel[2], Mode=mode)
        s.leaf("Inland_mode_of_transport", "3"); s.close("Means_of_transport")
        s.leaf("Container_flag", "true" if containers else "false")
        if header_incoterm:
            s.block("Delivery_terms", Code=incoterm, Place="Port", Situation=None)
        s.block("Border_office", Code=office, Name="Frontière")
        s.block("Place_of_loading", Code="FRLEH", Name="Le Havre", Country="FR")
        s.leaf("Location_of_goods", "Môle 3"); s.close("Transport")
    s.open("Financial"); s.block("Financial_transaction", code1="1", code2="1"); s.leaf("Total_invoice", total_invoice_financial)
    s.leaf("Mode_of_payment", "CASH"); s.close("Financial")
    if warehouse:
        s.block("Warehouse", Identification=warehouse[0], Delay=warehouse[1])
    if with_valuation:
        s.open("Valuation"); s.leaf("Calculation_working_mode", "0"); s.block("Weight", Gross_weight=None); s.leaf("Total_cost", "0"); s.leaf("Total_CIF")
        s.block("Gs_Invoice", Amount_national_currency=None, Amount_foreign_currency=invoice, Currency_code=currency, Currency_name=None, Currency_rate=rate)
        s.block("Gs_external_freight", Amount_national_currency=freight_national, Amount_foreign_currency=freight, Currency_code=freight_currency or currency, Currency_name=None, Currency_rate=freight_rate or rate)
        s.block("Gs_internal_freight", Amount_national_currency=None, Amount_foreign_currency=None, Currency_code=None, Currency_name=None, Currency_rate=None)
        s.block("Gs_insurance", Amount_national_currency=None, Amount_foreign_currency=insurance, Currency_code=currency, Currency_name=None, Currency_rate=rate)
        s.block("Total", Total_invoice=invoice, Total_weight=None)
        s.close("Valuation")
    for number, container in containers:
        s.block("Container", Item_Number=number, Container_identity=container, Container_type="22G1", Empty_full_indicator="1/1")
    for it in items:
        s.open("Item")
        for doc in it.get("docs", ()):
            s.block("Attached_documents", Attached_document_code=doc[0], Attached_document_name=doc[1], Attached_document_reference=doc[2], Attached_document_date=doc[3])
        for pk in it.get("packages", ()):
            s.block("Packages", Number_of_packages=pk[0], Marks1_of_packages=pk[1], Marks2_of_packages=None, Kind_of_packages_code=pk[2], Kind_of_packages_name=None)
        if it.get("incoterm"):
            s.block("IncoTerms", Code=it["incoterm"], Place="Port")
        s.open("Tarification"); s.leaf("Tarification_data")
        hs = it["hs"]
        s.block("HScode", Commodity_code=hs[:8], Precision_1=hs[8:] or None, Precision_2=None, Precision_3=None, Precision_4=None)
        s.leaf("Preference_code", it.get("pref"))
        s.leaf("Extended_customs_procedure", it.get("proc", "4000")); s.leaf("National_customs_procedure", "000")
        s.leaf("Quota_code"); s.open("Quota"); s.leaf("QuotaCode"); s.leaf("QuotaId"); s.open("QuotaItem"); s.leaf("ItmNbr"); s.close("QuotaItem"); s.close("Quota")
        sup = it.get("sup")
        spelled = it.get("sup_spelling", "Suppplementary")
        for i in range(3):
            s.open("Supplementary_unit")
            code, qty = (sup if (sup and i == 0) else (None, None))
            s.leaf(f"{spelled}_unit_code", code); s.leaf(f"{spelled}_unit_name"); s.leaf(f"{spelled}_unit_quantity", qty)
            s.close("Supplementary_unit")
        s.leaf("Item_price", it.get("price")); s.leaf("Valuation_method_code"); s.leaf("Value_item", it.get("value_item"))
        s.leaf("Attached_doc_item", " ".join(d[0] for d in it.get("docs", ())) or None)
        s.close("Tarification")
        s.block("Goods_description", Country_of_origin_code=it["origin"], Country_of_origin_region=None, Description_of_goods=it["desc"], Commercial_Description=it.get("commercial"))
        s.block("Previous_doc", Summary_declaration=it.get("bl"), Summary_declaration_sl=None, Previous_document_reference=None, Previous_warehouse_code=None)
        s.leaf("Licence_number"); s.leaf("Free_text_1"); s.leaf("Free_text_2")
        s.open("Taxation"); s.leaf("Item_taxes_amount"); s.open("Taxation_line"); s.leaf("Duty_tax_code"); s.leaf("Duty_tax_Base"); s.close("Taxation_line"); s.close("Taxation")
        s.open("Valuation_item"); s.block("Weight_itm", Gross_weight_itm=it["gross"], Net_weight_itm=it["net"])
        s.leaf("Total_cost_itm"); s.leaf("Total_CIF_itm", it.get("cif")); s.leaf("Rate_of_adjustement", "1"); s.leaf("Statistical_value", it.get("cif"))
        s.block("Item_Invoice", Amount_national_currency=None, Amount_foreign_currency=it.get("item_invoice"), Currency_code=currency, Currency_name=None, Currency_rate=rate)
        s.close("Valuation_item")
        s.close("Item")
    s.close("ASYCUDA")
    (OUT / name).write_text(s.text(comment=comment), encoding="utf-8")

# 1. One item, Côte d'Ivoire, optional blocks missing: no Transport/Delivery_terms (incoterm on the item), no containers,
#    no item count, no freight or insurance, blank <X/> elements.
build("sad-ci-one-item-minimal.xml", "Côte d'Ivoire, one item, no item count, no containers, <X/> for empty fields, incoterm on the item only",
      style="self", country="CI", office="CIAB1", lrn="CI-2026-00017", declarant=("CI0101010A", "Bolloré Transit Côte d'Ivoire"),
      consignee=("CI1234567X", "Société Ivoirienne de Négoce"), exporter=("", "Façonnerie Lyonnaise"), count=None, header_incoterm=False,
      invoice="4200", freight=None, insurance=None, currency="EUR", date="2026-04-14", manifest=None,
      items=[dict(hs="6109100000", origin="FR", desc="T-shirts en coton", gross="310.5", net="300", price="4200", incoterm="FOB",
                  packages=[("12", "SIL — Abidjan", "CT")], bl="MSCUAB123456", sup=("NAR", "1200"))])

# 2. Three items, Senegal, <null/> with indentation everywhere, multi-line names with accents, three-digit national precision.
build("sad-sn-three-items-null-indented.xml", "Senegal, three items, indented export with <null/> on its own lines, names over several lines",
      style="null-indented", indent=4, lrn="CAD-2026-000777", consignee=("SN0098765B2", "Établissements Ndiaye & Fils\n        Rue Félix Faure\n        Dakar"),
      exporter=(None, "Société Française\n        d'Électroménager (SFE)"), packages_total="160",
      containers=[("1", "CSQU3054383"), ("2", "CSQU3054383"), ("3", "MSKU1234565")],
      items=[dict(hs="8418100000", origin="FR", desc="Réfrigérateurs", commercial="Réfrigérateurs « Frigéco »\n        300 l", gross="6500", net="6000.5",
                  price="15000.00", packages=[("100", "SFE", "CT")], bl="GRIM0123456", pref="0", sup=("NAR", "100"), cif="9850000",
                  docs=[("380", "Facture", "F-2026-12", "02/03/2026"), ("705", "Connaissement", "GRIM0123456", "28/02/2026")]),
             dict(hs="8516100000", origin="CI", desc="Chauffe-eau électriques", gross="900", net="850", price="2500.50", proc="4071", pref="1",
                  packages=[("30", None, "PK")], bl="GRIM0123456"),
             dict(hs="8450110000", origin="TR", desc="Machines à laver", gross="1200", net="1100", price="1000", packages=[("30", "SFE", "CT")], bl="GRIM0123456")])

# 3. Thirty items, Mali, road transport, no containers, <X></X> empty style, count in Number_of_items.
build("sad-ml-thirty-items-road.xml", "Mali, thirty items by road from Dakar, empty fields as <X></X>, count as Number_of_items",
      style="open-close", country="ML", office="ML-BKO-ROUTE", lrn="ML-2026-BKO-0930", declarant=("ML0044556T", "Transit Sahel Bamako"),
      consignee=("ML0987654K", "Comptoir Malien du Bâtiment"), exporter=(None, "Ciments du Sénégal"), export_country="SN", count_tag="Number_of_items",
      mode="3", vessel=("AA-1234-SN", "AA-1234-SN", "SN"), incoterm="DAP", currency="XOF", rate="1", invoice="30000000", freight="1500000", insurance="0",
      packages_total="3000",
      items=[dict(hs=f"25232900{n % 10}0"[:10], origin="SN", desc=f"Ciment Portland, lot n°{n}", gross="50000", net="50000", price="1000000",
                  packages=[("100", f"LOT {n}", "BG")], bl="LV-DKR-BKO-0042") for n in range(1, 31)])

# 4. Burkina Faso, comma decimals with space thousand separators.
build("sad-bf-comma-decimals.xml", "Burkina Faso, amounts and weights written with decimal commas and space thousands (1 250,50)",
      style="null", country="BF", office="BF-OUA-ROUTE", lrn="BF-2026-000321", declarant=("BF0012345Z", "Transit Faso Kanu"),
      consignee=("BF7654321W", "Société Burkinabè d'Équipement"), exporter=(None, "Maïs & Céréales du Ghana"), export_country="GH",
      mode="3", vessel=("11-JJ-4567", "11 JJ 4567", "BF"), incoterm="CPT", currency="USD", rate="605,32", invoice="12 500,75", freight="1 250,50",
      insurance="62,5", packages_total="1 200",
      items=[dict(hs="1005900000", origin="GH", desc="Maïs grain", gross="25 000", net="24 800,5", price="10 000,25", packages=[("1 000", None, "BG")], bl="CMR-GH-0099", sup=("KGM", "24 800,5")),
             dict(hs="1006300000", origin="GH", desc="Riz blanchi", gross="5 000", net="4 950", price="2 500,50", packages=[("200", None, "BG")], bl="CMR-GH-0099")])

# 5. Ghana, default namespace, attributes on elements, correct spelling of Supplementary_unit_*.
build("sad-gh-namespace-attributes.xml", "Ghana, default namespace on the root, attributes, Supplementary_unit_* spelled with two p",
      style="self", ns="http://www.asycuda.org/world/sad", country="GH", office="GH-TEMA", lrn="GH-2026-TMA-55", declarant=("GH-C0001234", "Tema Clearing Agency Ltd"),
      consignee=("GH-C0007654", "Accra Motors Ltd"), exporter=("JP-0001", "Nagoya Autos Co."), export_country="JP", incoterm="CFR", currency="USD", rate="15.2",
      invoice="42000.00", freight="3000.00", insurance="0.00", containers=[("1", "TGHU1234567"), ("2", "TGHU7654321")], extra_root_attr=' version="4.2" id="77"',
      items=[dict(hs="8703231000", origin="JP", desc="Used cars", gross="2600", net="2500", price="24000.00", packages=[("2", "VIN JN1AZ0000", "NE")], bl="ONEYJP0001", sup=("NAR", "2"), sup_spelling="Supplementary"),
             dict(hs="8703241000", origin="JP", desc="Used SUV", gross="2100", net="2000", price="18000.00", packages=[("1", None, "NE")], bl="ONEYJP0001", sup=("NAR", "1"), sup_spelling="Supplementary")])

# 6. Togo, Warehouse block, values with surrounding whitespace, item invoice in Item_Invoice only, no Item_price.
build("sad-tg-warehouse-item-invoice.xml", "Togo, a warehouse, no Item_price (item value in Valuation_item/Item_Invoice), dates day/month/year in Registration",
      style="null", indent=2, country="TG", office="TG-LOME-PORT", lrn="TG-2026-LFW-10", declarant=("TG1000222B", "Lomé Transit Express"),
      consignee=("TG3000444C", "Brasserie du Bénin-Togo"), exporter=(None, "Malterie Franco-Belge"), export_country="BE", incoterm="FOB", currency="EUR",
      invoice="8000", freight="650", insurance="40", date=None, reg_date="2026-05-20", warehouse=("TG-ENT-07", "30"), containers=[("1", "MRKU0000001")],
      items=[dict(hs="1107100000", origin="BE", desc="Malt non torréfié", gross="20500", net="20000", item_invoice="8000", packages=[("400", "MFB", "BG")], bl="MAEU123456789")])

# 7. Benin, two-digit transport mode (10 = sea), integral numbers written with .0 (12.0), ISO date-times.
build("sad-bj-two-digit-mode.xml", "Benin, transport mode written on two digits (10: sea), counts and amounts written as 12.0",
      style="null", country="BJ", office="BJ-COTONOU-PORT", lrn="BJ-2026-COT-404", declarant=("BJ0320001", "Cotonou Cargo Services"),
      consignee=("BJ0320999", "Huilerie du Mono"), exporter=(None, "Palm Oil Malaysia Sdn Bhd"), export_country="MY", mode="10", incoterm="CIF", currency="USD",
      rate="602.5", invoice="55000.0", freight="2500.0", insurance="275.0", packages_total="20.0", date="2026-06-01T08:30:00",
      items=[dict(hs="1511900000", origin="MY", desc="Huile de palme raffinée", gross="21000.0", net="20000.0", price="55000.0", packages=[("20.0", None, "DR")], bl="CMDU-MY-7788", sup=("LTR", "21500.0"))])

# 8. Niger, freight invoiced in another currency than the goods.
build("sad-ne-freight-other-currency.xml", "Niger, goods invoiced in EUR, freight in USD with its own rate",
      style="null", country="NE", office="NE-NIAMEY-ROUTE", lrn="NE-2026-NIA-12", declarant=("NE0001111", "Niger Transit"),
      consignee=("NE0002222", "Agro-Équipements du Niger"), exporter=(None, "Tracteurs de Bourgogne"), mode="3", vessel=("NG-2233", "NG-2233", "NE"),
      incoterm="CPT", currency="EUR", rate="655.957", invoice="90000", freight="6000", freight_currency="USD", freight_rate="600", freight_national="3600000",
      insurance="450",
      items=[dict(hs="8701910000", origin="FR", desc="Tracteurs agricoles", gross="9000", net="8800", price="90000", packages=[("3", None, "NE")], bl="LV-COT-NIA-07")])

