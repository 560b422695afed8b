"""Payments against invoices (NCE_RULES 5): manual ones an admin records (a bank transfer's reference), card
payments through the gateway (by the account itself, or automatically with its saved card), partial payments,
never more than the balance, and credit notes applied to invoices.

A card payment is written as pending before the gateway is called, outside any transaction, and settled after:
the pending amount counts against the balance, so two payments at once can never exceed it, and a timeout leaves
it pending to be asked about again (by its idempotency key), never charged twice."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.audit import service as audit
from app.billing import dunning, gateways, invoices, locks, rules
from app.billing.card_gateway import ChargeResult, Gateway
from app.config import Settings
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.jobs import queue
from app.mail import service as mail
from app.money import decimal_within, round_amount
from app.subscriptions import lifecycle

log = logging.getLogger(__name__)

RECHECK_JOB = "payment_recheck"
AUTOPAY_JOB = "invoice_autopay"
RECHECK_AFTER = timedelta(seconds=30)
# an automatic charge that failed is tried again this many days after the previous try; then it stops
AUTOPAY_RETRY_DAYS = (1, 3, 7)
METHODS = ("manual", "card")


def payment_json(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "invoice_id": str(row["invoice_id"]),
        "amount": str(round_amount(row["amount"], row["currency"])),
        "currency": row["currency"],
        "method": row["method"],
        "reference": row["reference"],
        "status": row["status"],
        "error": row["error"],
        "automatic": row["automatic"],
        "received_on": row["received_on"].isoformat(),
        "created_at": row["created_at"].isoformat().replace("+00:00", "Z"),
    }


def _amount(value: Any, currency: str) -> Decimal:
    amount = decimal_within(value)  # what payments.amount (numeric(18, 4)) holds
    if amount is None:
        raise Invalid({"amount": 'amount is a string like "120.50".'})
    return amount


async def check_amount(document: dict, raw: Any) -> None:
    """The amount's own checks, before anything is written for the payment (a card typed in for it is saved only
    when the amount can be paid)."""
    _check(document, _amount(raw, document["currency"]), await _open_balance(document))


async def _open_balance(document: dict) -> Decimal:
    """The balance less what pending card payments already hold."""
    pending = await db.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice_id = $1 AND status = 'pending'", document["id"]
    )
    return invoices.balance(document) - Decimal(str(pending))


async def _locked(viewer: Principal, invoice_id: uuid.UUID) -> dict:
    await invoices.get_row(viewer, invoice_id)
    row = await locks.invoice(invoice_id)  # its account first (app/billing/locks.py)
    assert row is not None
    return row


def _check(document: dict, amount: Decimal, open_balance: Decimal) -> None:
    if document["status"] == "void":
        raise Conflict("invoice_void", f"{document['number']} is void: nothing is paid against it.")
    refusal = rules.payment_refusal(amount, open_balance, document["currency"])
    if refusal is not None:
        code = "overpayment" if amount > 0 and amount > open_balance else "invalid_amount"
        if code == "invalid_amount":
            raise Invalid({"amount": refusal})
        raise Conflict(code, refusal, field="amount")


async def record_payment(actor: Principal, invoice_id: uuid.UUID, body: Any, settings: Settings) -> dict:
    """API.md `POST /invoices/{id}/payments {amount, method, reference?}`."""
    if not isinstance(body, dict) or set(body) - {"amount", "method", "reference", "payment_method_id", "received_on"}:
        raise Invalid({"body": "Send {amount, method: manual|card, reference?}."})
    method = body.get("method")
    if method not in METHODS:
        raise Invalid({"method": "method is manual or card."})
    if method == "manual":
        return await record_manual(actor, invoice_id, body)
    return await pay_by_card(actor, invoice_id, body, settings)


async def record_manual(actor: Principal, invoice_id: uuid.UUID, body: dict) -> dict:
    """A payment the CSP received outside Cloudseat (a bank transfer), or a refund it paid out on a credit note."""
    if actor.role != "csp_admin":
        raise Forbidden("Only the CSP's admins record payments received by bank transfer.")
    reference = str(body.get("reference") or "").strip()[:140]
    received_on = clock.now().date()
    if body.get("received_on"):
        from datetime import date

        try:
            received_on = date.fromisoformat(str(body["received_on"]))
        except ValueError:
            raise Invalid({"received_on": "received_on is a date, YYYY-MM-DD."}) from None
        if received_on > clock.now().date():
            raise Invalid({"received_on": "A payment cannot be received in the future."})
    async with db.transaction():
        document = await _locked(actor, invoice_id)
        amount = _amount(body.get("amount"), document["currency"])
        _check(document, amount, await _open_balance(document))
        payment = await _insert(document, amount, "manual", "succeeded", actor, reference=reference,
                                received_on=received_on)  # fmt: skip
        await _apply(document, amount, actor, payment)
    return payment_json(payment)


async def _insert(document: dict, amount: Decimal, method: str, status: str, actor: Principal | None,
                  **fields: Any) -> dict:  # fmt: skip
    now = clock.now()
    row = await db.fetchrow(
        "INSERT INTO payments (id, invoice_id, account_id, amount, currency, method, reference, status, automatic, "
        "attempt, payment_method_id, gateway, received_on, created_by, created_at, settled_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING *",
        fields.get("payment_id") or uuid.uuid4(),
        document["id"],
        document["account_id"],
        amount,
        document["currency"],
        method,
        fields.get("reference", ""),
        status,
        fields.get("automatic", False),
        fields.get("attempt", 1),
        fields.get("payment_method_id"),
        fields.get("gateway"),
        fields.get("received_on") or now.date(),
        actor.user_id if actor else None,
        now,
        now if status == "succeeded" else None,
    )
    assert row is not None
    return row


async def _apply(document: dict, amount: Decimal, actor: Principal | None, payment: dict) -> None:
    """Count a succeeded payment on its document (in the caller's transaction, the document locked), and lift a
    non-payment hold once nothing is overdue."""
    paid = Decimal(document["amount_paid"]) + amount
    status = rules.invoice_status(Decimal(document["total"]), paid)
    await db.execute(
        "UPDATE invoices SET amount_paid = $2, status = $3::text, "
        "paid_at = CASE WHEN $3::text = 'paid' THEN $4::timestamptz END WHERE id = $1",
        document["id"],
        paid,
        status,
        clock.now(),
    )
    await audit.record(
        actor, "invoice", document["id"], "payment_received",
        {"amount_paid": document["amount_paid"], "status": document["status"]},
        {"amount_paid": paid, "status": status, "payment": payment["id"], "method": payment["method"],
         "amount": amount},
    )  # fmt: skip
    await dunning.after_payment(document["account_id"])


# --- Cards -----------------------------------------------------------------------------------------------------


async def cards(account_id: uuid.UUID) -> list[dict]:
    return await db.fetch(
        "SELECT * FROM payment_methods WHERE account_id = $1 AND removed_at IS NULL ORDER BY is_default DESC, "
        "created_at DESC",
        account_id,
    )


def may_pay(actor: Principal, account_id: uuid.UUID) -> bool:
    """The account pays its own invoices and keeps its cards; the CSP may charge a customer's saved card for it."""
    return actor.role == "csp_admin" or actor.account_id == account_id


def _may_pay(actor: Principal, account_id: uuid.UUID) -> None:
    if not may_pay(actor, account_id):
        raise Forbidden("Only the account billed can pay this invoice by card.")


async def save_card(actor: Principal, account_id: uuid.UUID, details: dict, settings: Settings) -> dict:
    """A card for the account's profile; the first one is its default, used for automatic payments."""
    await accounts.get_account(actor, account_id)
    _may_pay(actor, account_id)
    gateway = _gateway(settings)
    # a gateway's customer holds all of the account's cards (Stripe: the ref is "<customer>/<card>")
    earlier = await db.fetchval(
        "SELECT gateway_ref FROM payment_methods WHERE account_id = $1 AND gateway = $2 ORDER BY created_at LIMIT 1",
        account_id,
        gateway.name,
    )
    if earlier and "/" in str(earlier):
        details = {**details, "customer": str(earlier).split("/", 1)[0]}
    card = await gateway.save_card(details)
    async with db.transaction():
        await locks.account(account_id)
        has_default = await db.fetchval(
            "SELECT true FROM payment_methods WHERE account_id = $1 AND is_default AND removed_at IS NULL", account_id
        )
        row = await db.fetchrow(
            "INSERT INTO payment_methods (id, account_id, gateway, gateway_ref, brand, last4, exp_month, exp_year, "
            "is_default, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
            uuid.uuid4(),
            account_id,
            gateway.name,
            card.gateway_ref,
            card.brand,
            card.last4,
            card.exp_month,
            card.exp_year,
            not has_default,
            clock.now(),
        )
        assert row is not None
        await audit.record(actor, "account", account_id, "card_saved", {}, {"card": f"{card.brand} •••• {card.last4}"})
    return row


async def remove_card(actor: Principal, account_id: uuid.UUID, card_id: uuid.UUID) -> None:
    await accounts.get_account(actor, account_id)
    _may_pay(actor, account_id)
    async with db.transaction():
        row = await db.fetchrow(
            "UPDATE payment_methods SET removed_at = $3, is_default = false WHERE id = $1 AND account_id = $2 "
            "AND removed_at IS NULL RETURNING *",
            card_id,
            account_id,
            clock.now(),
        )
        if row is None:
            raise NotFound("This card was not found.")
        if row["is_default"] or not await db.fetchval(
            "SELECT true FROM payment_methods WHERE account_id = $1 AND is_default AND removed_at IS NULL", account_id
        ):
            await db.execute(
                "UPDATE payment_methods SET is_default = true WHERE id = (SELECT id FROM payment_methods "
                "WHERE account_id = $1 AND removed_at IS NULL ORDER BY created_at DESC LIMIT 1)",
                account_id,
            )
        card = f"{row['brand']} •••• {row['last4']}"
        await audit.record(actor, "account", account_id, "card_removed", {"card": card}, {})


def _gateway(settings: Settings) -> Gateway:
    gateway = gateways.gateway_for(settings)
    if gateway is None:
        raise Conflict("no_gateway", "Card payments are not set up: the CSP has not configured a payment gateway.")
    return gateway


async def pay_by_card(actor: Principal, invoice_id: uuid.UUID, body: dict, settings: Settings) -> dict:
    """Pay with a saved card (`payment_method_id`, or the account's default)."""
    gateway = _gateway(settings)
    async with db.transaction():
        document = await _locked(actor, invoice_id)
        _may_pay(actor, document["account_id"])
        if document["kind"] != "invoice":
            raise Conflict("not_payable", "A credit note is not paid by card: it is applied to an invoice or refunded.")
        amount = _amount(body.get("amount", invoices.balance(document)), document["currency"])
        _check(document, amount, await _open_balance(document))
        card = await _card(document["account_id"], body.get("payment_method_id"))
        payment = await _insert(document, amount, "card", "pending", actor, payment_method_id=card["id"],
                                gateway=gateway.name)  # fmt: skip
    return payment_json(await _charge(gateway, payment, card["gateway_ref"], actor))


async def _card(account_id: uuid.UUID, card_id: Any) -> dict:
    if card_id:
        try:
            wanted = uuid.UUID(str(card_id))
        except ValueError:
            raise Invalid({"payment_method_id": "payment_method_id is a saved card's id."}) from None
        row = await db.fetchrow(
            "SELECT * FROM payment_methods WHERE id = $1 AND account_id = $2 AND removed_at IS NULL", wanted, account_id
        )
    else:
        row = await db.fetchrow(
            "SELECT * FROM payment_methods WHERE account_id = $1 AND is_default AND removed_at IS NULL", account_id
        )
    if row is None:
        raise Conflict("no_card", "This account has no saved card. Add a card first.", field="payment_method_id")
    return row


async def _charge(gateway: Gateway, payment: dict, card_ref: str, actor: Principal | None) -> dict:
    """Call the gateway for a pending payment (no transaction open) and settle what it answered."""
    try:
        result = await gateway.charge(key=str(payment["id"]), card_ref=card_ref, amount=Decimal(payment["amount"]),
                                      currency=payment["currency"])  # fmt: skip
    except Exception:  # a timeout, or anything else: the charge may exist, so it is asked about, never re-sent
        key = f"{RECHECK_JOB}:{payment['id']}"
        await queue.enqueue(RECHECK_JOB, {"payment_id": str(payment["id"])}, dedupe_key=key, delay=RECHECK_AFTER)
        log.warning(
            "card payment %s got no answer from the gateway; it will be asked about", payment["id"], exc_info=True
        )
        return payment
    return await settle(payment["id"], result, actor)


async def settle(payment_id: uuid.UUID, result: ChargeResult, actor: Principal | None = None) -> dict:
    """Record what the gateway did with a pending payment, once: a payment already settled is left alone."""
    async with db.transaction():
        payment = await db.fetchrow("SELECT * FROM payments WHERE id = $1", payment_id)
        assert payment is not None
        document = await locks.invoice(payment["invoice_id"])  # its account first (app/billing/locks.py)
        payment = await db.fetchrow("SELECT * FROM payments WHERE id = $1 FOR UPDATE", payment_id)
        assert payment is not None
        assert document is not None
        if payment["status"] != "pending":
            return payment
        if result.status == "succeeded":
            status, error = "succeeded", None
        elif result.status == "declined":
            status, error = "failed", result.message or "The card was declined."
        else:
            status, error = "failed", "The gateway never received this payment; nothing was charged."
        settled = await db.fetchrow(
            "UPDATE payments SET status = $2, error = $3, gateway_ref = $4, settled_at = $5 WHERE id = $1 RETURNING *",
            payment_id,
            status,
            error,
            result.gateway_ref,
            clock.now(),
        )
        assert settled is not None
        if status == "succeeded":
            await _apply(document, Decimal(payment["amount"]), actor, settled)
        else:
            await audit.record(actor, "invoice", document["id"], "payment_failed", {},
                               {"payment": payment_id, "error": error})  # fmt: skip
            if payment["automatic"]:
                await _mail_failed_autopay(document, settled)
    return settled


async def recheck(payload: dict, settings: Settings) -> None:
    """The job after a timeout: ask the gateway what happened to the payment's key, and settle it."""
    payment = await db.fetchrow("SELECT * FROM payments WHERE id = $1", uuid.UUID(payload["payment_id"]))
    if payment is None or payment["status"] != "pending":
        return
    result = await _gateway(settings).lookup(str(payment["id"]))  # a timeout again raises: the job retries
    await settle(payment["id"], result)


# --- Automatic payments ----------------------------------------------------------------------------------------


async def autopay(payload: dict, settings: Settings) -> None:
    """The job: charge an invoice's balance to the account's default card, once per attempt."""
    invoice_id, attempt = uuid.UUID(payload["invoice_id"]), int(payload.get("attempt", 1))
    payment_id = uuid.uuid5(invoice_id, f"autopay:{attempt}")  # the same try is the same charge
    gateway = gateways.gateway_for(settings)
    if gateway is None:
        return
    async with db.transaction():
        document = await locks.invoice(invoice_id)  # its account first (app/billing/locks.py)
        if document is None or document["status"] not in ("issued", "partially_paid"):
            return
        existing = await db.fetchrow("SELECT * FROM payments WHERE id = $1", payment_id)
        if existing is None:
            amount = await _open_balance(document)
            card = await db.fetchrow(
                "SELECT * FROM payment_methods WHERE account_id = $1 AND is_default AND removed_at IS NULL",
                document["account_id"],
            )
            if amount <= 0 or card is None:
                return
            existing = await _insert(document, amount, "card", "pending", None, payment_id=payment_id, automatic=True,
                                     attempt=attempt, payment_method_id=card["id"], gateway=gateway.name)  # fmt: skip
        card_ref = await db.fetchval("SELECT gateway_ref FROM payment_methods WHERE id = $1",
                                     existing["payment_method_id"])  # fmt: skip
    if existing["status"] != "pending":
        return
    # a try that reached the gateway before (the job died after the call) is asked about, not charged again
    known = await gateway.lookup(str(payment_id))
    if known.status == "unknown":
        await _charge(gateway, existing, str(card_ref), None)
    else:
        await settle(payment_id, known)


async def due(now: datetime) -> dict[str, int]:
    """Once a day, after the dunning pass (the scheduler's order): queue the automatic card retries that are due."""
    if not await lifecycle.claim_day("autopay_retries", now.date()):
        return {}
    return {"autopay_retries": await due_retries(now)}


async def due_retries(now: Any) -> int:
    """Failed automatic charges whose next try has come (AUTOPAY_RETRY_DAYS after the last), for open invoices."""
    today = now.date()
    rows = await db.fetch(
        "SELECT DISTINCT ON (p.invoice_id) p.invoice_id, p.attempt, p.status, p.received_on, p.automatic "
        "FROM payments p JOIN invoices i ON i.id = p.invoice_id JOIN accounts a ON a.id = i.account_id "
        "WHERE i.status IN ('issued', 'partially_paid') AND a.auto_pay "
        "ORDER BY p.invoice_id, p.created_at DESC"
    )
    jobs = []
    for row in rows:
        attempt = row["attempt"]
        if not row["automatic"] or row["status"] != "failed" or attempt > len(AUTOPAY_RETRY_DAYS):
            continue
        if row["received_on"] + timedelta(days=AUTOPAY_RETRY_DAYS[attempt - 1]) <= today:
            key = f"{AUTOPAY_JOB}:{row['invoice_id']}:{attempt + 1}"
            jobs.append(({"invoice_id": str(row["invoice_id"]), "attempt": attempt + 1}, key))
    await queue.enqueue_many(AUTOPAY_JOB, jobs)
    return len(jobs)


async def _mail_failed_autopay(document: dict, payment: dict) -> None:
    import json

    buyer = json.loads(document["buyer"]) if isinstance(document["buyer"], str) else document["buyer"]
    attempt = payment["attempt"]
    when = (
        f"We will try again on {payment['received_on'] + timedelta(days=AUTOPAY_RETRY_DAYS[attempt - 1])}."
        if attempt <= len(AUTOPAY_RETRY_DAYS)
        else "We will not try this card again: please pay the invoice by another means."
    )
    await mail.send(
        buyer["email"],
        f"Automatic payment of {document['number']} failed",
        f"Hello {buyer['name']},\n\nWe could not charge {payment['amount']:.2f} {payment['currency']} for "
        f"{document['number']} to your saved card: {payment['error']}\n{when}\n\nYou can pay it or change the card "
        "on the invoice's page.\n",
    )


# --- Credit notes ----------------------------------------------------------------------------------------------


async def apply_credit(actor: Principal | None, credit_note_id: uuid.UUID, invoice_id: uuid.UUID) -> Decimal:
    """Apply what is left of a credit note to an open invoice of the same account and currency: a payment on the
    invoice, and the same amount used up on the credit note. Returns the amount applied."""
    async with db.transaction():
        rows = await locks.invoices([credit_note_id, invoice_id])  # the account, then both by id
        found = {r["id"]: r for r in rows}
        credit, invoice = found.get(credit_note_id), found.get(invoice_id)
        if actor is not None:
            for document_id in (credit_note_id, invoice_id):
                await invoices.get_row(actor, document_id)
        if credit is None or invoice is None or credit["kind"] != "credit_note" or invoice["kind"] != "invoice":
            raise NotFound("Pick an open credit note and an open invoice.")
        if credit["account_id"] != invoice["account_id"] or credit["currency"] != invoice["currency"]:
            raise Conflict("credit_mismatch", "A credit note applies only to invoices of its account and currency.")
        amount = min(invoices.balance(credit), await _open_balance(invoice))
        if amount <= 0:
            return Decimal(0)
        reference = f"{credit['number']} applied"
        payment = await _insert(invoice, amount, "credit_note", "succeeded", actor, reference=reference)
        used = await _insert(
            credit, amount, "credit_note", "succeeded", actor, reference=f"applied to {invoice['number']}"
        )
        await _apply(invoice, amount, actor, payment)
        await _apply(credit, amount, actor, used)
    return amount


async def apply_open_credit(account_ids: list[uuid.UUID]) -> None:
    """After a run: open credit notes pay the accounts' open invoices of the same currency, oldest first."""
    pairs = await db.fetch(
        "SELECT c.id AS credit_id, i.id AS invoice_id FROM invoices c JOIN invoices i ON i.account_id = c.account_id "
        "AND i.currency = c.currency AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid') "
        "WHERE c.kind = 'credit_note' AND c.status IN ('issued', 'partially_paid') AND c.account_id = ANY($1::uuid[]) "
        "ORDER BY c.issue_date, c.number, i.issue_date, i.number",
        account_ids,
    )
    for pair in pairs:
        await apply_credit(None, pair["credit_id"], pair["invoice_id"])


HANDLERS = {RECHECK_JOB: recheck, AUTOPAY_JOB: autopay}
