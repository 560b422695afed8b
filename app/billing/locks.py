"""The one lock order for money (issue 16). A transaction that changes a bill-to account, its invoices or the
subscriptions billed to it takes their row locks in this order, and only in this order:

    1. the bill-to account's row (`account`),
    2. the customer's tenant, where seats are counted against Microsoft's pooled maximum (a transaction-level
       advisory lock, `app.orders.service.lock_commitments`: orders, seat increases, upgrades),
    3. its invoices, several by id (`invoice`, `ORDER BY id`),
    4. its subscriptions, several by id (`subscription`, `ORDER BY id`).

A transaction that starts from an invoice or a subscription reads its bill-to without a lock and locks the account
before the row it came for. Set-based statements over many subscriptions and no account take them by id.

The rows are locked FOR NO KEY UPDATE, the lock an UPDATE of them takes anyway: it serialises the writers of a row
and, unlike FOR UPDATE, does not wait for (nor block) the KEY SHARE locks that inserting a charge, an invoice or a
payment takes on the account and subscription it references. A FOR UPDATE account lock against a seat change's
charge insert, each holding what the other wanted, is the deadlock that made the dunning pass skip a suspension."""

from __future__ import annotations

import uuid

from app import db


async def account(account_id: uuid.UUID) -> dict:
    """Lock the bill-to account's row (first, before its invoices and subscriptions); returns it."""
    row = await db.fetchrow("SELECT * FROM accounts WHERE id = $1 FOR NO KEY UPDATE", account_id)
    assert row is not None, f"account {account_id} does not exist"
    return row


async def subscription(subscription_id: uuid.UUID) -> dict:
    """Lock the subscription after its bill-to account; returns the subscription's row as locked."""
    bill_to = await db.fetchval("SELECT bill_to_id FROM subscriptions WHERE id = $1", subscription_id)
    assert bill_to is not None, f"subscription {subscription_id} does not exist"
    await account(bill_to)  # type: ignore[arg-type]
    row = await db.fetchrow("SELECT * FROM subscriptions WHERE id = $1 FOR NO KEY UPDATE", subscription_id)
    assert row is not None
    return row


async def invoices(invoice_ids: list[uuid.UUID]) -> list[dict]:
    """Lock documents of one account after the account, in id order; returns them in that order."""
    accounts = await db.fetch_column(
        "SELECT DISTINCT account_id FROM invoices WHERE id = ANY($1::uuid[]) ORDER BY account_id", invoice_ids
    )
    for account_id in accounts:
        await account(account_id)
    return await db.fetch(
        "SELECT * FROM invoices WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE", invoice_ids
    )


async def invoice(invoice_id: uuid.UUID) -> dict | None:
    """Lock one invoice (or credit note) after its account; None when there is no such document."""
    rows = await invoices([invoice_id])
    return rows[0] if rows else None
