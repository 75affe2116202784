"""The ``awb/save`` object MagFlow builds for an order (docs/emag-protocol.md, "AWBs and
couriers"), checked whole without eMAG: what the courier is told (receiver, sender, cash on
delivery, parcels, options) and what is refused before anything is sent. The same payload goes
to eMAG as built (tests/orders/test_awb_labels.py shows that over HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from magflow.audit.service import SYSTEM
from magflow.context import AppContext
from magflow.emag import EmagClient, InMemoryRateLimiter, RetryPolicy, Window
from magflow.emag.codes import OrderStatus, OrderType, PaymentMode
from magflow.emag.errors import EmagValidationError
from magflow.emag.ratelimit import Bucket
from magflow.emag.results import ChunkResult, SaveResult
from magflow.orders.actions import (
    ActionInputError,
    FbeOrderError,
    OrderActions,
    OrderNotFoundError,
    _read_back,
    _save_outcome,
    enforced_courier,
    require_seller_fulfilled,
    status_reached,
)
from magflow.orders.models import EmagOrder

CUSTOMER: dict[str, Any] = {
    "name": "Ion Client",
    "phone_1": "0700 000 001",
    "legal_entity": 0,
    "shipping_contact": "Maria Livrare",
    "shipping_phone": "0722 111 222",
    "shipping_locality_id": 8801,
    "shipping_street": "Strada Lunga 5",
    "shipping_postal_code": "010101",
}
SENDER = {"name": "Firma SRL", "contact": "Depozit", "phone1": "0744 555 666", "address_id": 77}


def order(**changes: Any) -> EmagOrder:
    fields: dict[str, Any] = {
        "emag_id": 5001,
        "order_type": OrderType.SELLER,
        "status": OrderStatus.PREPARED,
        "payment_mode_id": PaymentMode.COD,
        "total_with_vat": Decimal("123.45"),
        "customer": CUSTOMER,
        "details": {},
        "raw": {"id": 5001},
    }
    fields.update(changes)
    return EmagOrder(**fields)


@pytest.fixture
async def actions(ctx: AppContext) -> AsyncIterator[OrderActions]:
    async with ctx.db.session() as session:
        yield OrderActions(ctx, session, SYSTEM)


async def test_receiver_is_the_shipping_contact_and_cod_the_total_of_a_cod_order(
    actions: OrderActions,
) -> None:
    payload = actions.awb_payload(order(), {"sender": SENDER})
    assert payload == {
        "order_id": 5001,
        "sender": {
            "name": "Firma SRL",
            "contact": "Depozit",
            "phone1": "0744555666",
            "address_id": 77,
        },
        "receiver": {
            "name": "Maria Livrare",
            "contact": "Maria Livrare",
            "phone1": "0722111222",
            "legal_entity": 0,
            "locality_id": 8801,
            "street": "Strada Lunga 5",
            "zipcode": "010101",
        },
        "is_oversize": 0,
        "envelope_number": 0,
        "parcel_number": 0,
        "cod": Decimal("123.45"),
    }


async def test_receiver_falls_back_to_the_billing_name_and_phone(actions: OrderActions) -> None:
    """Without shipping contact and phone, the customer's name and first phone are the
    receiver's; a company (``legal_entity``, as eMAG sends it: a string) is flagged; empty
    fields are left out rather than sent empty."""
    customer = {
        "name": "Client Firma SRL",
        "phone_1": "0700 000 001",
        "legal_entity": "1",
        "shipping_locality_id": 8801,
        "shipping_street": "Strada Lunga 5",
        "shipping_postal_code": "",
    }
    payload = actions.awb_payload(order(customer=customer), {"sender": SENDER})
    assert payload["receiver"] == {
        "name": "Client Firma SRL",
        "contact": "Client Firma SRL",
        "phone1": "0700000001",
        "legal_entity": 1,
        "locality_id": 8801,
        "street": "Strada Lunga 5",
    }
    no_flag = {k: v for k, v in customer.items() if k != "legal_entity"}
    assert (
        actions.awb_payload(order(customer=no_flag), {"sender": SENDER})["receiver"]["legal_entity"]
        == 0
    )


@pytest.mark.parametrize(
    ("payment", "total", "asked", "cod"),
    [
        (PaymentMode.CARD_ONLINE, Decimal("99.90"), None, Decimal(0)),  # paid already
        (PaymentMode.BANK_TRANSFER, Decimal("99.90"), None, Decimal(0)),
        (PaymentMode.COD, None, None, Decimal(0)),  # no total known: nothing to collect
        (PaymentMode.COD, Decimal("99.90"), Decimal(0), Decimal(0)),  # the user's 0 stands
        (PaymentMode.CARD_ONLINE, Decimal("99.90"), Decimal("10.5"), Decimal("10.5")),
    ],
)
async def test_cash_on_delivery(
    actions: OrderActions,
    payment: int,
    total: Decimal | None,
    asked: Decimal | None,
    cod: Decimal,
) -> None:
    request: dict[str, Any] = {"sender": SENDER}
    if asked is not None:
        request["cod"] = asked
    payload = actions.awb_payload(order(payment_mode_id=payment, total_with_vat=total), request)
    assert payload["cod"] == cod


async def test_request_options_are_sent_as_emag_takes_them(actions: OrderActions) -> None:
    """Flags go as 0/1, counts as integers, the receiver's given fields replace the order's
    (a null one does not), and a locker delivery names its locker."""
    request: dict[str, Any] = {
        "sender": SENDER,
        "receiver": {"name": "Alt Primitor", "phone1": None, "street": "Strada Noua 1"},
        "is_oversize": True,
        "envelope_number": "2",
        "parcel_number": 3,
        "weight": 1.5,
        "insured_value": 200,
        "observation": "Fragil",
        "pickup_and_return": False,
        "saturday_delivery": True,
        "sameday_delivery": 2,
        "courier_account_id": 12,
    }
    payload = actions.awb_payload(order(details={"locker_id": "LCK-9"}), request)
    assert payload["receiver"] == {
        "name": "Alt Primitor",
        "contact": "Maria Livrare",
        "phone1": "0722111222",
        "legal_entity": 0,
        "locality_id": 8801,
        "street": "Strada Noua 1",
        "zipcode": "010101",
    }
    options = {k: v for k, v in payload.items() if k not in ("sender", "receiver")}
    assert options == {
        "order_id": 5001,
        "is_oversize": 1,
        "envelope_number": 2,
        "parcel_number": 3,
        "cod": Decimal("123.45"),
        "courier_account_id": 12,
        "weight": 1.5,
        "insured_value": 200,
        "observation": "Fragil",
        "pickup_and_return": 0,
        "saturday_delivery": 1,
        "sameday_delivery": 1,
        "locker_id": "LCK-9",
    }


@pytest.mark.parametrize(
    ("defaults", "asked", "sent"),
    [
        # a full address asked replaces the default pickup address id
        (
            SENDER,
            {"locality_id": 8802, "street": "Strada Depozit 2", "contact": ""},
            {
                "name": "Firma SRL",
                "contact": "Depozit",
                "phone1": "0744555666",
                "locality_id": 8802,
                "street": "Strada Depozit 2",
            },
        ),
        # a zipcode alone is an address too
        (
            SENDER,
            {"zipcode": "020202"},
            {
                "name": "Firma SRL",
                "contact": "Depozit",
                "phone1": "0744555666",
                "zipcode": "020202",
            },
        ),
        # an address id asked replaces the default address fields (whichever are set)
        (
            {"name": "Firma SRL", "locality_id": 8801, "street": "Str. 1"},
            {"address_id": 78, "name": None},
            {"name": "Firma SRL", "address_id": 78},
        ),
        # defaults without an address id take the address asked as it is
        (
            {"name": "Firma SRL"},
            {"locality_id": 8802, "street": "Strada Depozit 2", "zipcode": "020202"},
            {
                "name": "Firma SRL",
                "locality_id": 8802,
                "street": "Strada Depozit 2",
                "zipcode": "020202",
            },
        ),
        # no defaults: the request's sender as given
        (None, {"name": "Alta Firma", "address_id": 5}, {"name": "Alta Firma", "address_id": 5}),
        # defaults alone; an empty second phone is no phone to check
        ({**SENDER, "phone2": ""}, None, {**SENDER, "phone1": "0744555666", "phone2": ""}),
    ],
)
async def test_sender_is_the_request_over_the_account_defaults(
    actions: OrderActions,
    defaults: dict[str, Any] | None,
    asked: dict[str, Any] | None,
    sent: dict[str, Any],
) -> None:
    request = {} if asked is None else {"sender": asked}
    payload = actions.awb_payload(order(), request, sender_defaults=defaults)
    assert payload["sender"] == sent


async def test_no_sender_is_refused(actions: OrderActions) -> None:
    with pytest.raises(ActionInputError, match="no AWB sender"):
        actions.awb_payload(order(), {"sender": {"name": "", "contact": None}})
    with pytest.raises(ActionInputError, match="no AWB sender"):
        actions.awb_payload(order(), {}, sender_defaults={})


async def test_phones_are_written_for_the_platform_or_refused_naming_the_party(
    actions: OrderActions,
) -> None:
    """A Bulgarian number written internationally is too long for eMAG: on a Bulgarian account it
    is sent the national way, both phones of both parties."""
    bg = "+359 88 123 4567"
    sender = {"name": "Firma EOOD", "address_id": 3, "phone1": bg, "phone2": "00359881234567"}
    receiver = {"phone1": bg, "phone2": "+359 88 765 4321"}
    payload = actions.awb_payload(order(), {"sender": sender, "receiver": receiver}, platform="bg")
    assert (payload["sender"]["phone1"], payload["sender"]["phone2"]) == (
        "0881234567",
        "0881234567",
    )
    assert (payload["receiver"]["phone1"], payload["receiver"]["phone2"]) == (
        "0881234567",
        "0887654321",
    )
    with pytest.raises(ActionInputError, match=r"^receiver\.phone2: "):
        actions.awb_payload(order(), {"sender": SENDER, "receiver": {"phone2": "12"}})
    with pytest.raises(ActionInputError, match=r"^sender\.phone1: "):
        actions.awb_payload(order(), {"sender": {**SENDER, "phone1": "phone"}})


def _enforced(accounts: Any) -> EmagOrder:
    return order(raw={"id": 5001, "enforced_vendor_courier_accounts": accounts})


def test_any_courier_when_none_is_enforced() -> None:
    assert enforced_courier(order(), 12) == 12
    assert enforced_courier(order(), None) is None
    assert enforced_courier(_enforced(None), 12) == 12
    assert enforced_courier(order(raw=None), 12) == 12


@pytest.mark.parametrize(
    "accounts",
    [
        [{"account_id": 4}, {"courier_account_id": "7"}, {"id": 9}, 11],
        {"a": {"account_id": 4}, "b": 7, "c": {"id": "9"}, "d": "11"},
    ],
)
def test_enforced_couriers_in_every_shape(accounts: Any) -> None:
    """The shape of ``enforced_vendor_courier_accounts`` items is uncertain: ids, or objects by
    ``account_id``, ``courier_account_id`` or ``id``, in a list or keyed."""
    order_ = _enforced(accounts)
    assert enforced_courier(order_, None) == 4  # with none asked, the first allowed one
    assert [enforced_courier(order_, asked) for asked in (4, 7, 9, 11)] == [4, 7, 9, 11]
    with pytest.raises(ActionInputError) as refused:
        enforced_courier(order_, 5)
    assert "4, 7, 9, 11" in str(refused.value)


def test_a_single_enforced_courier_not_in_a_list() -> None:
    assert enforced_courier(_enforced(6), None) == 6
    assert enforced_courier(_enforced({"account_id": 6}), None) == 6
    with pytest.raises(ActionInputError, match="courier accounts 6 "):
        enforced_courier(_enforced(6), 5)


@pytest.mark.parametrize("accounts", [[], {}, [None, "x", {"name": "no id"}]])
def test_no_awb_from_the_marketplace(accounts: Any) -> None:
    with pytest.raises(ActionInputError, match="does not allow an AWB"):
        enforced_courier(_enforced(accounts), None)
    with pytest.raises(ActionInputError, match="does not allow an AWB"):
        enforced_courier(_enforced(accounts), 4)


# The refusals' texts are the API's answer (the ``detail`` of a 409/422, a bulk answer's
# ``error``): what the user reads to know what to do, checked whole.


def test_an_fbe_order_is_refused_saying_why_and_that_nothing_was_sent() -> None:
    with pytest.raises(FbeOrderError) as refused:
        require_seller_fulfilled(order(order_type=OrderType.FBE), "acknowledge")
    assert str(refused.value) == (
        "order 5001 is fulfilled by eMAG (FBE, type 2): eMAG acknowledges it, sets its status "
        "and issues its AWB, so MagFlow does not acknowledge it (only documents can be "
        "attached); nothing was sent to eMAG"
    )
    require_seller_fulfilled(order(), "acknowledge")  # seller-fulfilled: allowed


def test_courier_refusals_say_what_emag_enforces() -> None:
    with pytest.raises(ActionInputError) as refused:
        enforced_courier(_enforced([]), None)
    assert str(refused.value) == (
        "eMAG does not allow an AWB from the marketplace for order 5001 "
        "(enforced_vendor_courier_accounts is empty)"
    )
    with pytest.raises(ActionInputError) as refused:
        enforced_courier(_enforced([1, 3]), 2)
    assert str(refused.value) == (
        "order 5001 must use one of the courier accounts 1, 3 "
        "(eMAG's enforced_vendor_courier_accounts)"
    )


async def test_local_refusals_say_what_to_do(actions: OrderActions) -> None:
    with pytest.raises(ActionInputError) as refused:
        actions.awb_payload(order(), {})
    assert str(refused.value) == (
        "no AWB sender: give one, or set the account's sender defaults "
        "(PATCH /api/v1/accounts/{name})"
    )
    # status checks come before the order is even looked up
    for status in (OrderStatus.NEW, OrderStatus.IN_PROGRESS, OrderStatus.RETURNED):
        with pytest.raises(ActionInputError) as refused:
            await actions.change_status(987654, status)
        assert str(refused.value) == (
            "status must be 3 (prepared), 4 (finalized) or 0 (cancelled); "
            "1 → 2 is done by acknowledging"
        )
    with pytest.raises(ActionInputError) as refused:
        await actions.change_status(987654, OrderStatus.CANCELLED)
    assert str(refused.value) == "a cancellation needs a reason (eMAG reason_cancellation code)"
    with pytest.raises(OrderNotFoundError, match=r"^no order 987654$"):
        await actions.change_status(987654, OrderStatus.CANCELLED, reason=1)


def test_why_nothing_is_sent_for_an_order_emag_cancelled_since() -> None:
    assert status_reached(OrderStatus.IN_PROGRESS, OrderStatus.CANCELLED, 3) == (
        "eMAG cancelled it since MagFlow last read it; ask again to reactivate it "
        "(eMAG allows that within 48 hours)"
    )


# ``awb/read``'s answer has an uncertain shape (docs/emag-protocol.md, "AWBs and couriers",
# "Uncertainties"): the number read back after an ``awb/save`` that gave only the reservation.
# A client edge case, so eMAG is an httpx MockTransport here.


def _awb_read_client(answer: httpx.Response) -> EmagClient:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/awb/read")
        assert json.loads(request.content) == {"reservation_id": 41}
        return answer

    limits = {bucket: (Window(10_000, 1.0),) for bucket in Bucket}
    return EmagClient(
        "https://emag.test/api-3",
        "seller@example.com",
        "pw",
        platform="ro",
        rate_limiter=InMemoryRateLimiter(limits, margin=0),
        account_key="orders-test",
        retry=RetryPolicy(max_attempts=1),
        transport=httpx.MockTransport(handle),
    )


def _rows(results: Any) -> httpx.Response:
    return httpx.Response(200, json={"isError": False, "messages": [], "results": results})


@pytest.mark.parametrize(
    ("results", "found"),
    [
        # the record's own emag_id, the number in its awb list
        ([{"emag_id": 77, "awb": [{"awb_number": "4EMG1"}]}], ("4EMG1", 77)),
        # both in the awb list
        ([{"reservation_id": 41, "awb": [{"emag_id": 78, "awb_number": "4EMG2"}]}], ("4EMG2", 78)),
        # the record's emag_id first
        ([{"emag_id": 79, "awb": [{"emag_id": 1, "awb_number": "4EMG3"}]}], ("4EMG3", 79)),
        # a number without an id, an id without a number: either is worth keeping
        ([{"awb": [{"awb_number": "4EMG4"}]}], ("4EMG4", None)),
        ([{"emag_id": "80", "awb": None}], (None, 80)),
        # records with neither are passed over
        ([{"reservation_id": 41, "awb": []}, {"emag_id": 81, "awb": []}], (None, 81)),
        ([{"reservation_id": 41}], (None, None)),
        ([], (None, None)),
    ],
)
async def test_the_awb_number_is_read_back_from_any_known_shape(
    results: Any, found: tuple[str | None, int | None]
) -> None:
    async with _awb_read_client(_rows(results)) as client:
        assert await _read_back(client, reservation_id=41) == found


async def test_a_failed_read_back_leaves_the_awb_without_its_number() -> None:
    refused = httpx.Response(
        200, json={"isError": True, "messages": ["Reservation not found"], "results": []}
    )
    async with _awb_read_client(refused) as client:
        assert await _read_back(client, reservation_id=41) == (None, None)


def test_a_save_refused_in_one_chunk_is_audited_with_that_chunks_answer() -> None:
    """``order/save`` and ``order/attachments/save`` answer per chunk: the audit row takes the
    refused chunk's HTTP status and kind (eMAG may refuse with a 4xx), every chunk's messages
    and answers."""
    refusal = EmagValidationError(
        "eMAG refused", route="order/save", status_code=400, messages=["Invalid status"]
    )
    result = SaveResult(
        "order/save",
        [
            ChunkResult(0, [1], True, ["Saved 1"], raw={"isError": False}),
            ChunkResult(1, [2], False, ["Invalid status"], refusal, raw={"isError": True}),
        ],
    )
    outcome = _save_outcome(result)
    assert (outcome.status_code, outcome.success, outcome.error_kind) == (400, False, "validation")
    assert outcome.messages == ["Saved 1", "Invalid status"]
    assert outcome.response == [{"isError": False}, {"isError": True}]
    saved = _save_outcome(SaveResult("order/save", [ChunkResult(0, [1], True, ["Saved 1"])]))
    assert (saved.status_code, saved.success, saved.error_kind) == (200, True, None)
