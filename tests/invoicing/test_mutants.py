"""Invoice rules the mutation run found unasserted (issue 19): the CUI check digit on the shapes
operators paste, the whole document built from an order (buyer, seller, lines, totals, currency),
the rounding of amounts and VAT, and what a credit note gives back (pure logic: no servers)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from magflow.invoicing import cui
from magflow.invoicing.document import (
    DocumentError,
    build,
    buyer_of,
    order_lines,
    reversed_lines,
    seller_of,
    totals,
)
from magflow.invoicing.models import DocKind, InvoicingSettings
from magflow.orders.models import EmagOrder

# --- the CUI check digit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("ro18547290", True),  # the prefix in any case
        ("\tRO18547290\n", True),  # pasted from a spreadsheet: whitespace on both sides
        ("RO 1854 7290", True),
        ("12345674", True),  # a control digit other than 0: 95 * 10 mod 11 = 4
        ("12345670", False),
        ("12345675", False),
        (cui.with_check_digit("123456789"), True),  # the longest: 10 digits, no padding
        ("12", False),  # 2 digits: body 1 → control 9
        (cui.with_check_digit("1"), True),
        ("RO", False),
        ("RO12345678901", False),  # 11 digits: not a CUI
        (None, False),
    ],
)
def test_cui_check_digit_on_what_operators_paste(value: str | None, valid: bool) -> None:
    assert cui.is_valid(value) is valid


def test_cui_control_digit_follows_the_worked_examples() -> None:
    assert cui.control_digit("1854729") == 0  # 1110 mod 11 = 10 → 0
    assert cui.control_digit("1439984") == 0  # 1540 mod 11 = 0
    assert cui.control_digit("1234567") == 4
    assert cui.with_check_digit("1234567") == "12345674"
    assert cui.normalise(" RO 14399840 ") == "14399840"
    assert cui.normalise("X14399840") == ""


# --- the buyer and the seller --------------------------------------------------------------------

PERSON: dict[str, Any] = {
    "name": "Ion Popescu",  # the account's name
    "billing_name": " Ion Popescu-Ionescu ",  # the name on the invoice
    "billing_street": "Str. Lungă 4",
    "billing_city": "Iași",
    "billing_suburb": "Iași",
    "billing_country": "ro",
    "billing_postal_code": "700001",
    "billing_phone": "",
    "phone_1": "0722000111",
    "legal_entity": 0,
}
COMPANY: dict[str, Any] = {
    **PERSON,
    "legal_entity": 1,
    "company": "Firma Mea SRL",
    "code": "ro 14399840",
    "registration_number": "J22/1/2020",
    "is_vat_payer": 1,
    "billing_phone": "0232000000",
}


def _order(customer: dict[str, Any] | None, raw: dict[str, Any] | None = None) -> EmagOrder:
    return EmagOrder(emag_id=555, customer=customer, raw=raw or {}, status=4)


def test_a_person_is_billed_under_the_billing_name_and_address() -> None:
    assert buyer_of(_order(PERSON)) == {
        "name": "Ion Popescu-Ionescu",
        "is_company": False,
        "address": "Str. Lungă 4",
        "city": "Iași",
        "county": "Iași",
        "country": "RO",
        "postal_code": "700001",
        "phone": "0722000111",  # no billing phone: the account's
    }
    # no billing name: the account's name; no country: Romania; the billing phone first
    other = {**PERSON, "billing_name": None, "billing_country": None, "billing_phone": "0744"}
    buyer = buyer_of(_order(other))
    assert (buyer["name"], buyer["country"], buyer["phone"]) == ("Ion Popescu", "RO", "0744")
    # an ISO alpha-3 code is the alpha-2 one (UBL wants two letters)
    assert buyer_of(_order({**PERSON, "billing_country": "HUN"}))["country"] == "HU"


def test_a_company_is_billed_with_its_fiscal_data() -> None:
    assert buyer_of(_order(COMPANY)) == {
        "name": "Firma Mea SRL",
        "is_company": True,
        "address": "Str. Lungă 4",
        "city": "Iași",
        "county": "Iași",
        "country": "RO",
        "postal_code": "700001",
        "phone": "0232000000",
        "cui": "RO14399840",
        "reg_no": "J22/1/2020",
        "vat_payer": True,
    }
    # no company name: the billing name; not a VAT payer
    buyer = buyer_of(_order({**COMPANY, "company": "", "is_vat_payer": 0}))
    assert (buyer["name"], buyer["vat_payer"]) == ("Ion Popescu-Ionescu", False)
    # a foreign company's tax id is not a Romanian CUI: no check digit applies
    foreign = buyer_of(_order({**COMPANY, "billing_country": "BG", "code": "BG131129280"}))
    assert (foreign["country"], foreign["cui"]) == ("BG", "BG131129280")


@pytest.mark.parametrize(
    ("customer", "message"),
    [
        ({}, "the order has no billing data"),
        (None, "the order has no billing data"),
        (
            {**PERSON, "billing_name": "", "name": None, "billing_city": " "},
            "the order has no billing data (missing billing name, city)",
        ),
        (
            {**COMPANY, "code": None},
            "the buyer is a company but the order has no CUI (customer.code)",
        ),
        (
            {**COMPANY, "code": "RO14399841"},
            "the buyer's CUI 'RO14399841' is invalid (its check digit is wrong)",
        ),
    ],
)
def test_the_operator_is_told_what_billing_data_is_wrong(
    customer: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(DocumentError) as refused:
        buyer_of(_order(customer))
    assert str(refused.value) == message


def test_the_seller_is_the_settings_seller_blanks_as_empty_text() -> None:
    bare = InvoicingSettings(
        seller_name="Vânzător SRL", seller_cui="RO18547290", seller_country="RO", vat_payer=False
    )
    assert seller_of(bare) == {
        "name": "Vânzător SRL",
        "cui": "RO18547290",
        "reg_no": "",
        "address": "",
        "city": "",
        "county": "",
        "country": "RO",
        "iban": "",
        "vat_payer": False,
    }
    full = InvoicingSettings(
        seller_name="V SRL",
        seller_cui="RO18547290",
        seller_reg_no="J40/1/2020",
        seller_address="Str. A 1",
        seller_city="București",
        seller_county="Sector 1",
        seller_country="RO",
        seller_iban="RO49AAAA1B31007593840000",
        vat_payer=True,
    )
    seller = seller_of(full)
    assert [seller[k] for k in ("reg_no", "address", "city", "county", "iban", "vat_payer")] == [
        "J40/1/2020",
        "Str. A 1",
        "București",
        "Sector 1",
        "RO49AAAA1B31007593840000",
        True,
    ]


# --- the lines, totals and the whole document ---------------------------------------------------

BOOK = {
    "status": 1,
    "quantity": 1,
    "sale_price": "100.0000",
    "vat": "0.0900",
    "name": "Carte",
    "part_number": "PN9",
}


def test_the_document_of_an_order() -> None:
    settings = InvoicingSettings(
        seller_name="S SRL", seller_cui="RO18547290", seller_country="RO", vat_payer=True
    )
    order = _order(PERSON, {"products": [BOOK]})
    document = build(
        order,
        settings,
        platform="hu",
        kind=DocKind.invoice,
        reference="MF-1-555-F",
        today=date(2026, 11, 29),
    )
    assert document == {
        "reference": "MF-1-555-F",
        "kind": "invoice",
        "order_id": 555,
        "currency": "HUF",  # the order states none: the platform's
        "issue_date": "2026-11-29",
        "seller": seller_of(settings),
        "buyer": buyer_of(order),
        "lines": [
            {
                "name": "Carte",
                "code": "PN9",
                "quantity": "1",
                "unit_price": "100.00",
                "vat_rate": "9",
                "kind": "product",
            }
        ],
        "totals": {"net": "100.00", "vat": "9.00", "gross": "109.00"},
    }
    order.currency = "RON"
    assert build(order, settings, **_ro_invoice())["currency"] == "RON"
    # a credit note: quantities negative, the invoice it corrects named
    reverses = {"series": "MF", "number": "000001", "issue_date": "2026-11-20"}
    note = build(
        order,
        settings,
        platform="ro",
        kind=DocKind.credit_note,
        reference="MF-1-555-S",
        today=date(2026, 11, 29),
        reverses=reverses,
        lines=document["lines"],
    )
    assert (note["kind"], note["reverses"]) == ("credit_note", reverses)
    assert [line["quantity"] for line in note["lines"]] == ["-1"]
    assert note["totals"] == {"net": "-100.00", "vat": "-9.00", "gross": "-109.00"}
    assert document["lines"][0]["quantity"] == "1"  # the invoice's lines are left as they were


def _ro_invoice() -> dict[str, Any]:
    return {"platform": "ro", "kind": DocKind.invoice, "reference": "R", "today": date(2026, 1, 2)}


def test_an_order_with_nothing_to_invoice_is_refused() -> None:
    settings = InvoicingSettings(seller_name="S", seller_cui="RO18547290", seller_country="RO")
    cancelled = {**BOOK, "status": 0}
    with pytest.raises(DocumentError) as refused:
        build(_order(PERSON, {"products": [cancelled]}), settings, **_ro_invoice())
    assert str(refused.value) == "the order has no line to invoice"


def _rows(raw: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    return [
        (x["kind"], x["name"], x["code"], x["quantity"], x["unit_price"], x["vat_rate"])
        for x in order_lines(raw)
    ]


def test_lines_skip_what_is_not_sold_and_name_what_is_unnamed() -> None:
    raw = {
        "products": [
            "junk",  # eMAG's loose arrays: a stray scalar is no line
            {**BOOK, "quantity": 0},  # an active line of nothing
            {**BOOK, "quantity": "-1"},
            {
                "status": 1,
                "product_id": 77,
                "quantity": "2.000",
                "sale_price": "4.5",
                "vat": "0.19",
                "part_number_key": "PNK7",
                "part_number": "PN7",
                "recycle_warranties": [
                    "junk",
                    {"quantity": 0, "sale_price": "0.50", "vat_rate": "0.21"},
                    {"quantity": 2, "sale_price": "0.50", "vat_rate": "21"},  # already in %
                ],
            },
        ],
        "shipping_tax": "0",
        "vouchers": [
            "junk",
            {"voucher_id": 1, "sale_price": "0", "vat": "0.21"},  # nothing off
            {"voucher_id": 2, "sale_price": "-9.00", "vat": "0.09", "voucher_name": "Cupon 9"},
            {"sale_price": "-1.00"},  # no rate: the highest of the lines
        ],
    }
    assert _rows(raw) == [
        ("product", "Product 77", "PNK7", "2", "4.50", "19"),
        ("discount", "Cupon 9", "V2", "-1", "9.00", "9"),  # at its own rate
        ("discount", "Voucher", "V", "-1", "1.00", "19"),
        ("deposit", "Garanție SGR", "SGR", "2", "0.50", "21"),
    ]


def test_long_names_and_codes_are_cut_to_what_providers_take() -> None:
    raw = {"products": [{**BOOK, "name": "N" * 250, "part_number": "C" * 70}]}
    (line,) = order_lines(raw)
    assert (line["name"], line["code"]) == ("N" * 200, "C" * 64)


def test_amounts_and_vat_round_half_up_to_the_cent() -> None:
    # a unit price of 0.125 is 0.13 (half up, not half to even: 0.12)
    assert _rows({"products": [{**BOOK, "sale_price": "0.125"}]})[0][4] == "0.13"
    # VAT of 0.50 at 5 % is 0.025 → 0.03; 2.5 x 0.05 = 0.125 → 0.13
    lines = [
        {"quantity": "1", "unit_price": "0.50", "vat_rate": "5"},
        {"quantity": "2.5", "unit_price": "0.05", "vat_rate": "0"},
    ]
    assert totals(lines) == {"net": "0.63", "vat": "0.03", "gross": "0.66"}


def test_shipping_without_vat_is_at_the_highest_rate_of_the_lines() -> None:
    raw = {
        "products": [{**BOOK, "vat": "0.09"}, {**BOOK, "part_number": "PN2", "vat": "0.19"}],
        "shipping_tax": "23.80",
    }
    assert _rows(raw)[-1] == ("shipping", "Transport", "SHIP", "1", "20.00", "19")
    # a small shipping cost is still a line: 1.00 with VAT at 9 % is 0.92 without
    assert _rows({"products": [BOOK], "shipping_tax": "1.00"})[-1][4] == "0.92"


def test_one_bottle_has_its_deposit_line() -> None:
    sgr = {"quantity": 1, "sale_price": "0.50", "vat_rate": "0.21", "product_name": "SGR 0.5"}
    raw = {"products": [{**BOOK, "recycle_warranties": [sgr]}]}
    assert _rows(raw)[-1] == ("deposit", "SGR 0.5", "SGR", "1", "0.50", "21")


# --- what a credit note gives back --------------------------------------------------------------


def test_a_partial_storno_gives_back_each_removed_unit_once() -> None:
    sgr = {"quantity": 1, "sale_price": "0.50", "vat_rate": "0.21"}
    other = {**BOOK, "part_number": "PN2", "sale_price": "5.00", "recycle_warranties": [sgr]}
    # the same product on two lines, and another one; a voucher
    raw = {
        "products": [BOOK, BOOK, other],
        "vouchers": [{"voucher_id": 3, "sale_price": "-2.00", "vat": "0.09"}],
    }
    invoiced = order_lines(raw)
    # now: one of the two book lines is gone, the other product entirely, the voucher too
    now = {"products": [BOOK, {**BOOK, "status": 0}, {**other, "status": 0}]}
    back = reversed_lines(invoiced, now, full=False)
    assert [(x["code"], x["quantity"], x["unit_price"]) for x in back] == [
        ("PN9", "1", "100.00"),
        ("PN2", "1", "5.00"),
        ("SGR", "1", "0.50"),  # its deposit (listed after the voucher) goes back with it
    ]  # the discount stays as granted
    assert reversed_lines(invoiced, raw, full=False) == []
    assert reversed_lines(invoiced, now, full=True) == invoiced
