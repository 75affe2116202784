"""The invoice lines and buyer from an eMAG order, the CUI check digit, and the built-in files
(pure logic: no servers)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from magflow.invoicing import cui, render
from magflow.invoicing.document import DocumentError, build, buyer_of, order_lines, reversed_lines
from magflow.invoicing.models import DocKind, InvoicingSettings
from magflow.orders.models import EmagOrder

PERSON = {
    "name": "Ion Popescu",
    "billing_name": "Ion Popescu",
    "billing_street": "Str. Mărășești 4",
    "billing_city": "Iași",
    "billing_suburb": "Iași",
    "billing_country": "RO",
    "legal_entity": 0,
}
RAW: dict[str, Any] = {
    "products": [
        {
            "status": 1,
            "quantity": "2",
            "sale_price": "10.0000",
            "vat": "0.2100",
            "name": "Apă plată 2L",
            "part_number_key": "PNK1",
            "recycle_warranties": [
                {"quantity": 2, "sale_price": "0.5000", "vat_rate": "0.21", "product_name": "SGR"}
            ],
        },
        {"status": 0, "quantity": "5", "sale_price": "99.00", "vat": "0.21", "name": "gone"},
    ],
    "shipping_tax": "12.10",
    "vouchers": [{"voucher_id": 7, "sale_price": "-5.0000", "vat": "0.21", "voucher_name": "V"}],
}


def _order(customer: dict[str, Any] | None = PERSON, raw: dict[str, Any] = RAW) -> EmagOrder:
    return EmagOrder(emag_id=123, currency="EUR", customer=customer, raw=raw, status=4)


def _settings() -> InvoicingSettings:
    return InvoicingSettings(
        seller_name="Vânzătorul Țării SRL", seller_cui="RO18547290", seller_country="RO",
        vat_payer=True, series="MF",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "valid"),
    [("RO18547290", True), ("14399840", True), ("14399841", False), ("RO 18547290", True),
     ("ABC", False), ("", False), ("1", False)],
)  # fmt: skip
def test_cui_check_digit(value: str, valid: bool) -> None:
    assert cui.is_valid(value) is valid


def test_lines_take_products_shipping_vouchers_and_the_deposit_with_their_vat() -> None:
    lines = order_lines(RAW)
    assert [(x["kind"], x["quantity"], x["unit_price"], x["vat_rate"]) for x in lines] == [
        ("product", "2", "10.00", "21"),
        ("shipping", "1", "10.00", "21"),  # 12.10 with VAT at 21 %
        ("discount", "-1", "5.00", "21"),  # a voucher: quantity -1, price never negative
        ("deposit", "2", "0.50", "21"),  # the SGR deposit, its own line
    ]
    document = build(
        _order(),
        _settings(),
        platform="bg",
        kind=DocKind.invoice,
        reference="R",
        today=date.today(),
    )
    # net 20 + 10 - 5 + 1 = 26.00; VAT 4.20 + 2.10 - 1.05 + 0.21 = 5.46
    assert document["totals"] == {"net": "26.00", "vat": "5.46", "gross": "31.46"}
    assert document["currency"] == "EUR"


def test_buyer_needs_billing_data_and_a_company_a_valid_cui() -> None:
    with pytest.raises(DocumentError, match="no billing data"):
        buyer_of(_order(customer={}))
    with pytest.raises(DocumentError, match="missing billing street"):
        buyer_of(_order(customer={**PERSON, "billing_street": ""}))
    company = {**PERSON, "legal_entity": 1, "company": "Firma SRL", "code": "RO14399841"}
    with pytest.raises(DocumentError, match="invalid"):
        buyer_of(_order(customer=company))
    buyer = buyer_of(
        _order(customer={**company, "code": "RO14399840", "registration_number": "J1"})
    )
    assert (buyer["name"], buyer["cui"], buyer["reg_no"]) == ("Firma SRL", "RO14399840", "J1")


def test_a_partial_storno_reverses_only_what_the_order_no_longer_holds() -> None:
    invoiced = order_lines(RAW)
    now = {**RAW, "products": [{**RAW["products"][0], "quantity": "1"}]}
    back = reversed_lines(invoiced, now, full=False)
    assert [(x["kind"], x["quantity"]) for x in back] == [("product", "1")]
    assert len(reversed_lines(invoiced, now, full=True)) == len(invoiced)


def test_builtin_files_render_diacritics_and_the_cius_ro_xml() -> None:
    document = build(
        _order(), _settings(), platform="ro", kind=DocKind.credit_note, reference="R",
        today=date(2026, 11, 29), reverses={"series": "MF", "number": "000001",
                                            "issue_date": "2026-11-20"},
    )  # fmt: skip
    pdf = render.pdf(document, "MF", "000002")
    assert pdf.startswith(b"%PDF") and b"DejaVu" in pdf  # the Unicode font is embedded
    xml = render.ubl(document, "MF", "000002")
    assert "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>" in xml
    assert "<cac:InvoiceDocumentReference><cbc:ID>MF000001</cbc:ID>" in xml
    assert "Vânzătorul Țării SRL" in xml
    # quantities stated positive on a credit note; the discount stays the opposite sign
    assert 'CreditedQuantity unitCode="H87">2<' in xml
    assert Decimal(document["totals"]["gross"]) < 0
