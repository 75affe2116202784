"""The built-in provider's files: a PDF per document (fpdf2, with the bundled DejaVu Sans so that
Romanian diacritics ă â î ș ț render) and an e-Factura UBL 2.1 XML (CIUS-RO) for the seller's
accountant (docs/invoicing-providers.md, "Built-in provider").
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from fpdf import FPDF

FONTS = Path(__file__).parent / "fonts"
CIUS_RO = "urn:cen.eu:en16931:2017#compliant#urn:efactura.mfinante.ro:CIUS-RO:1.0.1"
NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
TITLES = {"invoice": "FACTURĂ", "credit_note": "FACTURĂ STORNO"}


def _amount(line: dict[str, Any]) -> Decimal:
    return (Decimal(line["quantity"]) * Decimal(line["unit_price"])).quantize(Decimal("0.01"))


def pdf(document: dict[str, Any], series: str, number: str) -> bytes:
    """One A4 page (more when the lines need it): parties, lines, totals."""
    out = FPDF(format="A4")
    out.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    out.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    out.set_auto_page_break(auto=True, margin=15)
    out.add_page()
    out.set_font("DejaVu", "B", 16)
    out.cell(0, 10, f"{TITLES[document['kind']]} {series} {number}", new_x="LMARGIN", new_y="NEXT")
    out.set_font("DejaVu", "", 9)
    out.cell(0, 5, f"Data emiterii: {document['issue_date']}", new_x="LMARGIN", new_y="NEXT")
    out.cell(
        0, 5, f"Comanda eMAG: {document['order_id']}  Moneda: {document['currency']}",
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    reverses = document.get("reverses")
    if reverses:
        out.cell(
            0, 5, f"Stornează factura {reverses['series']} {reverses['number']}",
            new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip
    out.ln(3)
    seller, buyer = document["seller"], document["buyer"]
    top = out.get_y()
    for x, title, party in ((10, "Furnizor", seller), (110, "Cumpărător", buyer)):
        out.set_xy(x, top)
        out.set_font("DejaVu", "B", 10)
        out.multi_cell(90, 5, title, new_x="LMARGIN", new_y="NEXT")
        out.set_font("DejaVu", "", 9)
        text = "\n".join(
            t
            for t in (
                party.get("name", ""),
                f"CUI: {party['cui']}" if party.get("cui") else "",
                f"Reg. Com.: {party['reg_no']}" if party.get("reg_no") else "",
                party.get("address", ""),
                ", ".join(p for p in (party.get("city"), party.get("county")) if p),
                party.get("country", ""),
            )
            if t
        )
        out.set_x(x)
        out.multi_cell(90, 4.5, text, new_x="LMARGIN", new_y="NEXT")
    out.set_y(max(out.get_y(), top + 40))
    out.ln(2)
    widths = (80, 18, 28, 16, 28)
    out.set_font("DejaVu", "B", 9)
    for width, head in zip(widths, ("Denumire", "Cant.", "Preț unitar", "TVA %", "Valoare"),
                           strict=True):  # fmt: skip
        out.cell(width, 6, head, border=1)
    out.ln()
    out.set_font("DejaVu", "", 8)
    for line in document["lines"]:
        cells = (line["name"][:60], line["quantity"], line["unit_price"], line["vat_rate"],
                 str(_amount(line)))  # fmt: skip
        for width, value in zip(widths, cells, strict=True):
            out.cell(width, 5.5, value, border=1)
        out.ln()
    totals = document["totals"]
    out.ln(2)
    out.set_font("DejaVu", "B", 10)
    for label, key in (("Total fără TVA", "net"), ("TVA", "vat"), ("Total de plată", "gross")):
        out.cell(142, 6, label, align="R")
        out.cell(28, 6, f"{totals[key]} {document['currency']}", align="R",
                 new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    return bytes(out.output())


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, name = tag.split(":")
    element = ET.SubElement(parent, f"{{{NS[prefix]}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: ET.Element, tag: str, party: dict[str, Any]) -> None:
    node = _sub(_sub(parent, tag), "cac:Party")
    address = _sub(node, "cac:PostalAddress")
    _sub(address, "cbc:StreetName", party.get("address") or "-")
    _sub(address, "cbc:CityName", party.get("city") or "-")
    if party.get("county"):
        _sub(address, "cbc:CountrySubentity", party["county"])
    _sub(_sub(address, "cac:Country"), "cbc:IdentificationCode", party.get("country") or "RO")
    code = party.get("cui") or ""
    if code and party.get("vat_payer"):
        scheme = _sub(node, "cac:PartyTaxScheme")
        vat_id = code if code.upper().startswith("RO") else f"RO{code}"
        _sub(scheme, "cbc:CompanyID", vat_id)
        _sub(_sub(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
    legal = _sub(node, "cac:PartyLegalEntity")
    _sub(legal, "cbc:RegistrationName", party.get("name") or "-")
    # CIUS-RO: a private buyer without a CNP is identified by thirteen zeros (BT-47).
    _sub(legal, "cbc:CompanyID", code.upper().removeprefix("RO") if code else "0000000000000")


def ubl(document: dict[str, Any], series: str, number: str) -> str:
    """An e-Factura UBL 2.1 Invoice (type 380) or CreditNote (type 381), CIUS-RO customization.

    VAT is grouped per rate (category S, or Z at 0 %); amounts are the document's (2 decimals);
    a credit note's quantities are negative as issued and stated here positive with the
    CreditNote type, as EN 16931 expects."""
    credit = document["kind"] == "credit_note"
    root_ns = NS["cn"] if credit else NS["inv"]
    ET.register_namespace("", root_ns)
    ET.register_namespace("cac", NS["cac"])
    ET.register_namespace("cbc", NS["cbc"])
    root = ET.Element(f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}")
    currency = document["currency"]
    _sub(root, "cbc:CustomizationID", CIUS_RO)
    _sub(root, "cbc:ID", f"{series}{number}")
    _sub(root, "cbc:IssueDate", document["issue_date"])
    _sub(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode",
         "381" if credit else "380")  # fmt: skip
    _sub(root, "cbc:DocumentCurrencyCode", currency)
    if document.get("reverses"):
        ref = _sub(_sub(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        _sub(ref, "cbc:ID", f"{document['reverses']['series']}{document['reverses']['number']}")
        _sub(ref, "cbc:IssueDate", document["reverses"]["issue_date"])
    _party(root, "cac:AccountingSupplierParty", document["seller"])
    _party(root, "cac:AccountingCustomerParty", document["buyer"])
    sign = Decimal(-1) if credit else Decimal(1)
    groups: dict[str, Decimal] = {}
    for line in document["lines"]:
        groups[line["vat_rate"]] = groups.get(line["vat_rate"], Decimal(0)) + _amount(line) * sign
    tax = _sub(root, "cac:TaxTotal")
    vat_total = Decimal(0)
    subtotals = []
    for rate, base in sorted(groups.items()):
        vat = (base * Decimal(rate) / 100).quantize(Decimal("0.01"))
        vat_total += vat
        subtotals.append((rate, base, vat))
    _sub(tax, "cbc:TaxAmount", str(vat_total), currencyID=currency)
    for rate, base, vat in subtotals:
        sub = _sub(tax, "cac:TaxSubtotal")
        _sub(sub, "cbc:TaxableAmount", str(base), currencyID=currency)
        _sub(sub, "cbc:TaxAmount", str(vat), currencyID=currency)
        category = _sub(sub, "cac:TaxCategory")
        _sub(category, "cbc:ID", "S" if Decimal(rate) > 0 else "Z")
        _sub(category, "cbc:Percent", rate)
        _sub(_sub(category, "cac:TaxScheme"), "cbc:ID", "VAT")
    net = sum((b for _r, b, _v in subtotals), Decimal(0))
    monetary = _sub(root, "cac:LegalMonetaryTotal")
    _sub(monetary, "cbc:LineExtensionAmount", str(net), currencyID=currency)
    _sub(monetary, "cbc:TaxExclusiveAmount", str(net), currencyID=currency)
    _sub(monetary, "cbc:TaxInclusiveAmount", str(net + vat_total), currencyID=currency)
    _sub(monetary, "cbc:PayableAmount", str(net + vat_total), currencyID=currency)
    for index, line in enumerate(document["lines"], start=1):
        node = _sub(root, "cac:CreditNoteLine" if credit else "cac:InvoiceLine")
        _sub(node, "cbc:ID", str(index))
        quantity = Decimal(line["quantity"]) * sign
        _sub(node, "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity", str(quantity),
             unitCode="H87")  # fmt: skip
        _sub(node, "cbc:LineExtensionAmount", str(_amount(line) * sign), currencyID=currency)
        item = _sub(node, "cac:Item")
        _sub(item, "cbc:Name", line["name"])
        category = _sub(item, "cac:ClassifiedTaxCategory")
        _sub(category, "cbc:ID", "S" if Decimal(line["vat_rate"]) > 0 else "Z")
        _sub(category, "cbc:Percent", line["vat_rate"])
        _sub(_sub(category, "cac:TaxScheme"), "cbc:ID", "VAT")
        price = _sub(node, "cac:Price")
        _sub(price, "cbc:PriceAmount", line["unit_price"], currencyID=currency)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body
