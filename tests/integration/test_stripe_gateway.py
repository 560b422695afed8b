"""The Stripe gateway through Stripe's own library, against a small Stripe-compatible server on loopback: form
bodies in, Stripe's JSON shapes out, idempotency keys honoured the way Stripe does (the same key replays the first
answer). Only the endpoints the gateway calls, with Stripe's test PaymentMethod ids."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn

from app.billing.card_gateway import ChargeResult, GatewayTimeout
from app.billing.stripe_gateway import StripeGateway
from app.errors import Invalid, Upstream
from tests.integration.sandbox_fixtures import free_port

pytestmark = [
    pytest.mark.integration,
    # stripe's HTTPXClient hands httpx the encoded form as `data=`, which httpx 0.28 deprecates for `content=`
    pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes/text content:DeprecationWarning"),
]

SECRET = "sk_test_cloudseat"
CARDS = {
    "pm_card_visa": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034},
    "pm_card_mastercard": {"brand": "mastercard", "last4": "4444", "exp_month": 3, "exp_year": 2031},
    # attaches, then every charge is declined (as Stripe's test card 4000 0000 0000 0341)
    "pm_card_chargeCustomerFail": {"brand": "visa", "last4": "0341", "exp_month": 12, "exp_year": 2034},
    # not a Stripe test id: the fake leaves its charges processing, until the test says otherwise
    "pm_fake_processing": {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2034},
}
# the bank refuses it when Stripe checks it on attach, as Stripe's generic decline test card
DECLINED_ON_ATTACH = "pm_card_visa_chargeDeclined"
SEARCH = re.compile(r"metadata\['cloudseat_payment'\]:'((?:[^'\\]|\\.)*)'")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class FakeStripe:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    customers: dict[str, dict] = field(default_factory=dict)
    intents: dict[str, dict] = field(default_factory=dict)
    replies: dict[str, tuple[dict, int, dict]] = field(default_factory=dict)  # idempotency key → first answer
    creates: list[dict] = field(default_factory=list)  # the PaymentIntent creates really done, not replays
    hold: float = 0  # seconds a PaymentIntent create waits, after it is made, before it answers
    indexed: bool = True  # whether search sees the intents yet (Stripe's search lags behind writes)
    fail_with: int | None = None  # answer every request with this 5xx
    ids: itertools.count = field(default_factory=itertools.count)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        params = dict(parse_qsl(body.decode() or scope["query_string"].decode(), keep_blank_values=True))
        self.seen.append(Seen(scope["method"], scope["path"], headers, params))
        status, payload = self.answer(scope["method"], scope["path"], headers, params)
        if self.hold and scope["path"] == "/v1/payment_intents" and scope["method"] == "POST":
            await asyncio.sleep(self.hold)
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})

    def answer(self, method: str, path: str, headers: dict[str, str], params: dict[str, str]) -> tuple[int, dict]:
        if headers.get("authorization") != f"Bearer {SECRET}":
            return 401, error("invalid_request_error", "Invalid API Key provided.")
        if self.fail_with:
            return self.fail_with, error("api_error", "An unknown error occurred.")
        key = headers.get("idempotency-key")
        if method == "POST" and key in self.replies:
            first_params, status, payload = self.replies[key]
            if first_params != params:
                return 400, error("idempotency_error", "Keys can only be reused with the same parameters.")
            return status, payload
        status, payload = self.route(method, path, params)
        if method == "POST" and key:
            self.replies[key] = (params, status, payload)
        return status, payload

    def route(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict]:
        if (method, path) == ("POST", "/v1/customers"):
            customer = {"id": f"cus_{next(self.ids)}", "object": "customer", "metadata": {}}
            self.customers[customer["id"]] = customer
            return 200, customer
        if method == "POST" and (attach := re.fullmatch(r"/v1/payment_methods/([^/]+)/attach", path)):
            return self.attach(attach[1], params)
        if (method, path) == ("POST", "/v1/payment_intents"):
            return self.create_intent(params)
        if (method, path) == ("GET", "/v1/payment_intents/search"):
            wanted = SEARCH.fullmatch(params["query"])
            assert wanted, params["query"]
            key = re.sub(r"\\(.)", r"\1", wanted[1])
            data = [i for i in self.intents.values() if self.indexed and i["metadata"].get("cloudseat_payment") == key]
            return 200, {"object": "search_result", "url": path, "data": data, "has_more": False, "next_page": None}
        if (method, path) == ("GET", "/v1/payment_intents"):
            return 200, self.list_intents(params)
        return 404, error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def attach(self, method_id: str, params: dict[str, str]) -> tuple[int, dict]:
        if params.get("customer") not in self.customers:
            return 400, error("invalid_request_error", f"No such customer: '{params.get('customer')}'", "customer")
        if method_id == DECLINED_ON_ATTACH:
            return 402, error("card_error", "Your card was declined.", code="card_declined", decline="generic_decline")
        if method_id not in CARDS:
            return 404, error("invalid_request_error", f"No such PaymentMethod: '{method_id}'", "resource_missing")
        card = {**CARDS[method_id], "country": "US", "funding": "credit"}
        return 200, {"id": method_id, "object": "payment_method", "type": "card", "card": card,
                     "customer": params["customer"], "metadata": {}}  # fmt: skip

    def create_intent(self, params: dict[str, str]) -> tuple[int, dict]:
        self.creates.append(params)
        if params["currency"] == "eur" and int(params["amount"]) < 50:
            return 400, error("invalid_request_error", "Amount must be at least €0.50 eur", "amount_too_small")
        intent = {
            "id": f"pi_{next(self.ids)}",
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "currency": params["currency"],
            "customer": params["customer"],
            "payment_method": params["payment_method"],
            "metadata": {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")},
            "created": int(time.time()),
            "status": "succeeded",
            "last_payment_error": None,
            "livemode": False,
        }
        self.intents[intent["id"]] = intent
        if params["payment_method"] == "pm_fake_processing":
            intent["status"] = "processing"
        if params["payment_method"] == "pm_card_chargeCustomerFail":
            declined = error("card_error", "Your card was declined.", code="card_declined", decline="generic_decline")
            intent.update(status="requires_payment_method", last_payment_error=declined["error"])
            return 402, {"error": {**declined["error"], "payment_intent": intent}}
        return 200, intent

    def list_intents(self, params: dict[str, str]) -> dict:
        newest_first = [
            i for i in reversed(self.intents.values()) if i["created"] >= int(params.get("created[gte]", 0))
        ]
        if "starting_after" in params:
            after = [i["id"] for i in newest_first].index(params["starting_after"])
            newest_first = newest_first[after + 1 :]
        limit = int(params.get("limit", 10))
        return {"object": "list", "url": "/v1/payment_intents", "data": newest_first[:limit],
                "has_more": len(newest_first) > limit}  # fmt: skip


def error(kind: str, message: str, code: str | None = None, *, decline: str | None = None) -> dict:
    body = {"type": kind, "message": message}
    if code:
        body["code"] = code
    if decline:
        body["decline_code"] = decline
    return {"error": body}


@dataclass
class Loopback:
    """The server the module shares (starting and stopping uvicorn costs more than the tests); each test gets a
    fresh fake behind it."""

    url: str = ""
    fake: FakeStripe = field(default_factory=FakeStripe)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.fake(scope, receive, send)


@pytest.fixture(scope="module")
async def loopback() -> AsyncIterator[Loopback]:
    loopback = Loopback()
    server = uvicorn.Server(
        uvicorn.Config(
            loopback, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=0.1
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: show why
        await asyncio.sleep(0.01)
    loopback.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield loopback
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def fake(loopback: Loopback) -> FakeStripe:
    loopback.fake = FakeStripe(url=loopback.url)
    return loopback.fake


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(SECRET, fake.url)


async def saved_ref(gateway: StripeGateway, method_id: str = "pm_card_visa") -> str:
    return (await gateway.save_card({"payment_method": method_id})).gateway_ref


# --- Saving a card ---------------------------------------------------------------------------------------------


async def test_save_card_makes_a_customer_and_reads_the_card(gateway: StripeGateway, fake: FakeStripe):
    card = await gateway.save_card({"payment_method": "pm_card_visa"})

    (customer_id,) = fake.customers
    assert card.gateway_ref == f"{customer_id}/pm_card_visa"
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    (attach,) = fake.requests("POST", "/v1/payment_methods/pm_card_visa/attach")
    assert attach.params == {"customer": customer_id}
    assert attach.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_save_card_reuses_a_given_customer(gateway: StripeGateway, fake: FakeStripe):
    first = await gateway.save_card({"payment_method": "pm_card_visa"})
    customer_id = first.gateway_ref.split("/")[0]

    second = await gateway.save_card({"payment_method": "pm_card_mastercard", "customer": customer_id})

    assert second.gateway_ref == f"{customer_id}/pm_card_mastercard"
    assert (second.brand, second.last4) == ("mastercard", "4444")
    assert len(fake.requests("POST", "/v1/customers")) == 1


@pytest.mark.parametrize("details", [{}, {"payment_method": ""}, {"payment_method": "4242424242424242"}])
async def test_save_card_without_a_payment_method_is_invalid(gateway: StripeGateway, fake: FakeStripe, details):
    with pytest.raises(Invalid) as refused:
        await gateway.save_card(details)
    assert refused.value.field == "payment_method"
    assert fake.seen == []  # refused before asking Stripe


@pytest.mark.parametrize(
    ("method_id", "message"),
    [(DECLINED_ON_ATTACH, "Your card was declined."), ("pm_unknown", "No such PaymentMethod: 'pm_unknown'")],
)
async def test_save_card_refused_by_stripe_is_invalid(gateway: StripeGateway, method_id: str, message: str):
    with pytest.raises(Invalid) as refused:
        await gateway.save_card({"payment_method": method_id})
    assert refused.value.errors == {"payment_method": message}


async def test_save_card_when_stripe_is_down_is_an_upstream_error(gateway: StripeGateway, fake: FakeStripe):
    fake.fail_with = 503
    with pytest.raises(Upstream):
        await gateway.save_card({"payment_method": "pm_card_visa"})


# --- Charging --------------------------------------------------------------------------------------------------


async def test_charge_succeeds(gateway: StripeGateway, fake: FakeStripe):
    ref = await saved_ref(gateway)

    result = await gateway.charge(key="pay-1", card_ref=ref, amount=Decimal("12.34"), currency="EUR")

    (intent_id,) = fake.intents
    assert result == ChargeResult("succeeded", intent_id)
    customer_id, method_id = ref.split("/")
    assert fake.creates == [
        {
            "amount": "1234",
            "currency": "eur",
            "customer": customer_id,
            "payment_method": method_id,
            "confirm": "true",
            "off_session": "true",
            "metadata[cloudseat_payment]": "pay-1",
        }
    ]
    (create,) = fake.requests("POST", "/v1/payment_intents")
    assert create.headers["idempotency-key"] == "pay-1"


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.34", "EUR", "1234"), ("500", "JPY", "500"), ("0.5", "EUR", "50"), ("1500", "ISK", "150000")],
)
async def test_charge_sends_minor_units(gateway: StripeGateway, fake: FakeStripe, amount, currency, minor):
    await gateway.charge(key="pay-1", card_ref="cus_1/pm_card_visa", amount=Decimal(amount), currency=currency)

    (create,) = fake.creates
    assert (create["amount"], create["currency"]) == (minor, currency.lower())


async def test_declined_card(gateway: StripeGateway, fake: FakeStripe):
    ref = await saved_ref(gateway, "pm_card_chargeCustomerFail")

    result = await gateway.charge(key="pay-1", card_ref=ref, amount=Decimal("12.34"), currency="EUR")

    (intent_id,) = fake.intents
    assert result == ChargeResult("declined", intent_id, "generic_decline", "Your card was declined.")
    assert await gateway.lookup("pay-1") == result  # from the intent's last_payment_error


async def test_amount_stripe_refuses_is_declined_with_its_code(gateway: StripeGateway, fake: FakeStripe):
    result = await gateway.charge(key="pay-1", card_ref="cus_1/pm_card_visa", amount=Decimal("0.3"), currency="EUR")

    assert result == ChargeResult("declined", None, "amount_too_small", "Amount must be at least €0.50 eur")
    assert fake.intents == {}


async def test_same_key_twice_charges_once(gateway: StripeGateway, fake: FakeStripe):
    ref = await saved_ref(gateway)

    first = await gateway.charge(key="pay-1", card_ref=ref, amount=Decimal("12.34"), currency="EUR")
    again = await gateway.charge(key="pay-1", card_ref=ref, amount=Decimal("12.34"), currency="EUR")

    assert first == again
    assert first.status == "succeeded"
    assert len(fake.creates) == 1
    assert len(fake.intents) == 1
    sent = fake.requests("POST", "/v1/payment_intents")
    assert [s.headers["idempotency-key"] for s in sent] == ["pay-1", "pay-1"]


async def test_no_answer_in_time_is_a_timeout_and_lookup_finds_the_charge(gateway: StripeGateway, fake: FakeStripe):
    impatient = StripeGateway(SECRET, fake.url, timeout=0.2)
    fake.hold = 1.0

    started = time.monotonic()
    with pytest.raises(GatewayTimeout):
        await impatient.charge(key="pay-1", card_ref="cus_1/pm_card_visa", amount=Decimal("12.34"), currency="EUR")
    assert time.monotonic() - started < 0.9  # the client gave up; the server was still holding its answer
    assert len(fake.requests("POST", "/v1/payment_intents")) == 1  # not re-sent by the library

    (intent_id,) = fake.intents
    # the re-check comes later, from a job, with the usual patience: 0.2 s would fail on a busy machine's loopback
    assert await gateway.lookup("pay-1") == ChargeResult("succeeded", intent_id)
    assert fake.requests("GET", "/v1/payment_intents") == []  # search found it


async def test_lookup_lists_recent_intents_when_search_lags(gateway: StripeGateway, fake: FakeStripe):
    impatient = StripeGateway(SECRET, fake.url, timeout=0.2)
    fake.hold, fake.indexed = 1.0, False
    with pytest.raises(GatewayTimeout):
        await impatient.charge(key="pay-1", card_ref="cus_1/pm_card_visa", amount=Decimal("12.34"), currency="EUR")
    (intent_id,) = fake.intents
    for n in range(100):  # newer ones, so that it is on the list's second page
        params = {"amount": "100", "currency": "eur", "customer": "cus_1", "payment_method": "pm_card_visa"}
        fake.create_intent({**params, "metadata[cloudseat_payment]": f"other-{n}"})

    assert await gateway.lookup("pay-1") == ChargeResult("succeeded", intent_id)
    first, second = fake.requests("GET", "/v1/payment_intents")
    assert int(first.params["created[gte]"]) <= time.time() - 3600
    assert second.params["created[gte]"] == first.params["created[gte]"]
    assert second.params["starting_after"] == list(fake.intents)[1]  # the first page ended at the oldest other


async def test_lookup_of_an_unknown_key(gateway: StripeGateway, fake: FakeStripe):
    await gateway.charge(key="pay-1", card_ref="cus_1/pm_card_visa", amount=Decimal("12.34"), currency="EUR")

    assert await gateway.lookup("pay-2") == ChargeResult("unknown")
    (search,) = fake.requests("GET", "/v1/payment_intents/search")
    assert search.params["query"] == "metadata['cloudseat_payment']:'pay-2'"


async def test_processing_is_asked_about_again(gateway: StripeGateway, fake: FakeStripe):
    with pytest.raises(GatewayTimeout):
        await gateway.charge(key="pay-1", card_ref="cus_1/pm_fake_processing", amount=Decimal(5), currency="EUR")
    with pytest.raises(GatewayTimeout):
        await gateway.lookup("pay-1")

    (intent,) = fake.intents.values()
    intent["status"] = "succeeded"
    assert await gateway.lookup("pay-1") == ChargeResult("succeeded", intent["id"])


async def test_server_error_is_a_timeout(gateway: StripeGateway, fake: FakeStripe):
    fake.fail_with = 500
    with pytest.raises(GatewayTimeout):
        await gateway.charge(key="pay-1", card_ref="cus_1/pm_card_visa", amount=Decimal(5), currency="EUR")
    with pytest.raises(GatewayTimeout):
        await gateway.lookup("pay-1")


async def test_nothing_listening_is_a_timeout():
    gateway = StripeGateway(SECRET, f"http://127.0.0.1:{free_port()}")

    with pytest.raises(GatewayTimeout):
        await gateway.charge(key="pay-1", card_ref="cus_1/pm_card_visa", amount=Decimal(5), currency="EUR")
