"""Card payment gateways behind one interface (card_gateway.py): the sandbox gateway (sandbox mode; test card
numbers that succeed, decline or time out) and Stripe (live mode, PaymentIntents through Stripe's official library).

Every charge carries an idempotency key (the payment's id): asking again with the same key returns the charge
already made, so a retry after a timeout never charges twice, and `lookup` finds out what a timed-out call did."""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal

from app import clock, db
from app.billing.card_gateway import ChargeResult, Gateway, GatewayTimeout, SavedCard
from app.billing.stripe_gateway import StripeGateway
from app.config import Settings
from app.errors import Invalid

# --- The sandbox gateway ---------------------------------------------------------------------------------------

# test cards (any future expiry, any CVC), as on Stripe's list where one exists
SANDBOX_CARDS = {
    "4242424242424242": ("visa", "succeeds"),
    "5555555555554444": ("mastercard", "succeeds"),
    "4000000000000002": ("visa", "card_declined"),
    "4000000000009995": ("visa", "insufficient_funds"),
    "4000000000000069": ("visa", "expired_card"),
    "4000000000000119": ("visa", "timeout"),  # takes the charge, but the answer never arrives
}
DECLINE_MESSAGES = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card was declined: insufficient funds.",
    "expired_card": "The card has expired.",
}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def card_errors(number: str, exp_month: object, exp_year: object, cvc: str, today_year: int, today_month: int) -> dict:
    """What is wrong with typed card details, field by field (the sandbox's form; Stripe's own form checks live)."""
    errors = {}
    if not (number.isdigit() and 13 <= len(number) <= 19 and luhn_ok(number)):
        errors["number"] = "This card number is not valid."
    try:
        month, year = int(str(exp_month)), int(str(exp_year))
        year = year + 2000 if year < 100 else year
        if not 1 <= month <= 12 or (year, month) < (today_year, today_month):
            errors["exp"] = "The card has expired, or the expiry date is not valid."
    except ValueError:
        errors["exp"] = "The expiry is a month and a year, like 12 / 30."
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        errors["cvc"] = "The security code is the 3 or 4 digits on the card."
    return errors


class SandboxGateway:
    """Behaves like a card gateway, keeping its own ledger in PostgreSQL (sandbox mode only)."""

    name = "sandbox"

    async def save_card(self, details: dict) -> SavedCard:
        number = "".join(ch for ch in str(details.get("number", "")) if ch.isdigit())
        today = clock.now()
        errors = card_errors(number, details.get("exp_month"), details.get("exp_year"), str(details.get("cvc", "")),
                             today.year, today.month)  # fmt: skip
        if not errors and number not in SANDBOX_CARDS:
            errors["number"] = "The sandbox gateway takes its test cards only: see the list beside the form."
        if errors:
            raise Invalid(errors)
        brand = SANDBOX_CARDS[number][0]
        ref = "card_" + secrets.token_hex(8)
        year = int(str(details["exp_year"]))
        await db.execute(
            "INSERT INTO sandbox_gateway_cards (ref, last4, brand, number_hash, created_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            ref,
            number[-4:],
            brand,
            hashlib.sha256(number.encode()).hexdigest(),
            clock.now(),
        )
        return SavedCard(ref, brand, number[-4:], int(str(details["exp_month"])), year + 2000 if year < 100 else year)

    async def charge(self, *, key: str, card_ref: str, amount: Decimal, currency: str) -> ChargeResult:
        existing = await self.lookup(key)
        if existing.status != "unknown":
            return existing
        number_hash = await db.fetchval("SELECT number_hash FROM sandbox_gateway_cards WHERE ref = $1", card_ref)
        outcome = next(
            (o for n, (_, o) in SANDBOX_CARDS.items() if hashlib.sha256(n.encode()).hexdigest() == number_hash),
            "card_declined",
        )
        status = "declined" if outcome in DECLINE_MESSAGES else "succeeded"
        await db.execute(
            "INSERT INTO sandbox_gateway_charges (idempotency_key, ref, card_ref, amount, currency, status, "
            "decline_code, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            key,
            "ch_" + secrets.token_hex(8),
            card_ref,
            amount,
            currency,
            status,
            outcome if status == "declined" else None,
            clock.now(),
        )
        if outcome == "timeout":
            raise GatewayTimeout("The sandbox gateway did not answer (test card 4000 0000 0000 0119).")
        return await self.lookup(key)

    async def lookup(self, key: str) -> ChargeResult:
        row = await db.fetchrow("SELECT * FROM sandbox_gateway_charges WHERE idempotency_key = $1", key)
        if row is None:
            return ChargeResult("unknown")
        code = row["decline_code"]
        return ChargeResult(row["status"], row["ref"], code, DECLINE_MESSAGES.get(code or "", ""))


def gateway_for(settings: Settings) -> Gateway | None:
    """The sandbox gateway in sandbox mode; Stripe in live mode when it is configured; otherwise none."""
    if settings.is_sandbox:
        return SandboxGateway()
    if settings.stripe_secret_key:
        return StripeGateway(settings.stripe_secret_key, settings.stripe_api_base)
    return None
