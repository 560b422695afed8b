"""Stripe, the live-mode card gateway. A saved card is a PaymentMethod (made in the browser by Stripe.js, so card
numbers never reach our server) attached to a Customer; a charge is a PaymentIntent confirmed off-session, with the
payment's id as its idempotency key and in its metadata, where `lookup` finds it after a timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import stripe

from app.billing.card_gateway import ChargeResult, GatewayTimeout, SavedCard
from app.errors import Invalid, Upstream
from app.money import minor_units, round_amount

METADATA_KEY = "cloudseat_payment"
# ISO 4217 gives ISK no decimals, but Stripe still counts it in hundredths (ISK 5 is 500)
STRIPE_DECIMALS = {"ISK": 2}
# search lags behind writes (a minute; up to an hour in an outage), so the last day's intents are listed as well
SEARCH_LAG_SECONDS = 24 * 3600
# no answer, or no final one: the charge may exist, so it is asked about later, never made again
UNANSWERED = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)


def stripe_amount(amount: Decimal, currency: str) -> int:
    """The amount in the currency's minor units, as Stripe counts them: EUR 12.34 is 1234, JPY 500 is 500."""
    currency = currency.upper()
    return int(round_amount(amount, currency).scaleb(STRIPE_DECIMALS.get(currency, minor_units(currency))))


class StripeGateway:
    name = "stripe"

    def __init__(self, secret_key: str, api_base: str | None = None, *, timeout: float = 80.0) -> None:
        self.secret_key = secret_key
        self.api_base = api_base
        self.timeout = timeout

    @asynccontextmanager
    async def _stripe(self) -> AsyncIterator[stripe.StripeClient]:
        """A client per call, closed after it: `gateway_for` makes a gateway per request and nothing closes it,
        and an httpx connection pool belongs to the event loop that opened it."""
        http = stripe.HTTPXClient(timeout=self.timeout)
        try:
            yield stripe.StripeClient(
                self.secret_key,
                base_addresses={"api": self.api_base} if self.api_base else None,
                http_client=http,
                # a timed-out charge is settled by `lookup` in a later job, not re-sent while the customer waits
                max_network_retries=0,
            )
        finally:
            await http.close_async()

    async def save_card(self, details: dict) -> SavedCard:
        method_id = details.get("payment_method")
        if not isinstance(method_id, str) or not method_id.startswith("pm_"):
            raise Invalid({"payment_method": "The card's details did not reach Stripe. Enter the card again."})
        async with self._stripe() as client:
            try:
                customer_id = details.get("customer") or (await client.v1.customers.create_async()).id
                method = await client.v1.payment_methods.attach_async(method_id, {"customer": customer_id})
            except (stripe.CardError, stripe.InvalidRequestError) as exc:
                # the bank refused the card when Stripe checked it, or the id is unknown or another customer's
                raise Invalid({"payment_method": exc.user_message or "The card was refused."}) from None
            except UNANSWERED as exc:
                raise Upstream("Stripe did not answer. Try again in a minute.") from exc
        if method.card is None:
            raise Invalid({"payment_method": "Only cards are taken."})
        card = method.card
        return SavedCard(f"{customer_id}/{method.id}", card.brand, card.last4, card.exp_month, card.exp_year)

    async def charge(self, *, key: str, card_ref: str, amount: Decimal, currency: str) -> ChargeResult:
        customer_id, _, method_id = card_ref.partition("/")
        async with self._stripe() as client:
            try:
                intent = await client.v1.payment_intents.create_async(
                    {
                        "amount": stripe_amount(amount, currency),
                        "currency": currency.lower(),
                        "customer": customer_id,
                        "payment_method": method_id,
                        "confirm": True,
                        "off_session": True,
                        "metadata": {METADATA_KEY: key},
                    },
                    {"idempotency_key": key},
                )
            except (stripe.CardError, stripe.InvalidRequestError) as exc:
                # Stripe or the bank refused it (a decline, an amount below Stripe's minimum): nothing was charged
                return _refused(exc)
            except UNANSWERED as exc:
                raise GatewayTimeout(f"Stripe did not answer for payment {key}: {exc.user_message}") from exc
        return _result(intent)

    async def lookup(self, key: str) -> ChargeResult:
        async with self._stripe() as client:
            try:
                intent = await _find(client, key)
            except UNANSWERED as exc:
                raise GatewayTimeout(f"Stripe did not answer about payment {key}: {exc.user_message}") from exc
        return ChargeResult("unknown") if intent is None else _result(intent)


async def _find(client: stripe.StripeClient, key: str) -> stripe.PaymentIntent | None:
    quoted = key.replace("\\", "\\\\").replace("'", "\\'")
    found = await client.v1.payment_intents.search_async({"query": f"metadata['{METADATA_KEY}']:'{quoted}'"})
    if found.data:
        return found.data[0]
    recent = await client.v1.payment_intents.list_async(
        {"created": {"gte": int(time.time()) - SEARCH_LAG_SECONDS}, "limit": 100}
    )
    async for intent in recent.auto_paging_iter():
        if getattr(intent.metadata, METADATA_KEY, None) == key:
            return intent
    return None


def _result(intent: stripe.PaymentIntent) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult("succeeded", intent.id)
    if intent.status == "processing":
        raise GatewayTimeout(f"Stripe is still processing {intent.id}.")
    # every other status moved no money (capture is automatic, so requires_capture never happens)
    return _declined(intent.id, intent.last_payment_error, None, f"The payment was not completed ({intent.status}).")


def _refused(exc: stripe.StripeError) -> ChargeResult:
    intent = getattr(exc.error, "payment_intent", None)
    return _declined(intent.id if intent else None, exc.error, exc.code, exc.user_message)


def _declined(intent_id: str | None, error: object, code: str | None, message: str | None) -> ChargeResult:
    # Stripe's error objects carry only the fields that apply, and a StripeObject is not a dict: hence getattr
    code = getattr(error, "decline_code", None) or getattr(error, "code", None) or code
    message = getattr(error, "message", None) or message or "The card was declined."
    return ChargeResult("declined", intent_id, code, message)
