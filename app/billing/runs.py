"""Billing runs (NCE_RULES 5): every uninvoiced charge that fell due by the run's day becomes a line of one invoice
per bill-to account and currency, or of a credit note when the credits outweigh the charges.

Set-based and resumable: a run issues its documents in batches of accounts, each batch one transaction that takes
its numbers from `document_series` under that row's lock, writes the documents and their lines and marks the
charges invoiced. A crash loses at most the batch in flight (numbers included, since they roll back with it); the
job's retry, or a second run, carries on with what is still uninvoiced, so nothing is invoiced twice and no number
is skipped. Runs take one advisory lock per batch, so concurrent runs take turns and never share a number."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date, datetime, timedelta
from typing import Any, cast

from app import clock, db, money
from app.accounts.rules import Principal
from app.billing import invoices, options, payments, rules
from app.config import Settings
from app.errors import Forbidden, Invalid, NotFound
from app.jobs import queue
from app.operations import service as operations

log = logging.getLogger(__name__)

JOB = "billing_run"
MAIL_JOB = "invoice_mail"
LOCK = 7_000_001  # pg_advisory_xact_lock key of the billing runs
BATCH_ACCOUNTS = 20_000

# the accounts of the next batch, in order: one probe of the partial index on uninvoiced charges per account (not
# every uninvoiced charge of the batch read and made distinct)
BATCH_SQL = """
SELECT a.id FROM accounts a
WHERE ($2::smallint IS NULL OR a.billing_day = $2) AND ($3::uuid IS NULL OR a.id = $3)
  AND EXISTS (SELECT FROM charges c WHERE c.account_id = a.id AND c.invoice_id IS NULL AND c.posted_on <= $1)
ORDER BY a.id LIMIT $4
"""

LINES_SQL = """
CREATE TEMP TABLE run_lines ON COMMIT DROP AS
SELECT c.id, c.account_id, c.currency, c.subscription_id, c.charge_type, c.quantity, c.per_seat_amount, c.amount,
       c.period_start, c.period_end, c.fx_rate, c.source_currency, c.source_amount
FROM charges c
WHERE c.invoice_id IS NULL AND c.posted_on <= $1 AND c.account_id = ANY($2::uuid[])
"""

DOCS_SQL = """
CREATE TEMP TABLE run_docs ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, account_id, currency, sum(amount) AS subtotal, count(*)::int AS lines_count,
       CASE WHEN sum(amount) < 0 THEN 'credit_note' ELSE 'invoice' END AS kind,
       row_number() OVER (PARTITION BY sum(amount) < 0 ORDER BY account_id, currency)::int AS rn
FROM run_lines GROUP BY account_id, currency;
ANALYZE run_lines; ANALYZE run_docs  -- temp tables: no autovacuum counts their rows for the planner
"""

# tax per buyer country and kind of buyer (with a VAT id or not) from the rates the rules decided ($6..$9, $17);
# minor units per currency ($10, $11)
ISSUE_SQL = """
WITH tax(country, business, label, rate, reverse_charge) AS (
    SELECT * FROM unnest($6::text[], $17::boolean[], $7::text[], $8::numeric[], $9::boolean[])
), minor(currency, places) AS (
    SELECT * FROM unnest($10::text[], $11::int[])
), priced AS (
    SELECT d.*, a.country, a.name, a.email, a.address_line1, a.address_line2, a.city, a.state, a.postal_code,
           a.tax_id, coalesce(a.payment_terms_days, $12) AS terms,
           coalesce(t.label, $13) AS tax_label, coalesce(t.rate, 0) AS tax_rate,
           coalesce(t.reverse_charge, false) AS reverse_charge,
           round(d.subtotal * coalesce(t.rate, 0) / 100, m.places) AS tax
    FROM run_docs d JOIN accounts a ON a.id = d.account_id
    JOIN minor m ON m.currency = d.currency
    LEFT JOIN tax t ON t.country = a.country AND t.business = (coalesce(a.tax_id, '') <> '')
)
INSERT INTO invoices (id, kind, number, run_id, account_id, currency, issue_date, due_date, buyer, seller, subtotal,
                      tax_label, tax_rate, reverse_charge, tax, total, lines_count, amount_paid, status, paid_at,
                      created_at)
SELECT id, kind,
       CASE kind WHEN 'invoice' THEN $2 || '-' || lpad(($3 + rn)::text, 6, '0')
                 ELSE $4 || '-' || lpad(($5 + rn)::text, 6, '0') END,
       $1, account_id, currency, $14::date, $14::date + terms,
       jsonb_build_object('name', name, 'email', email, 'address_line1', address_line1,
                          'address_line2', address_line2, 'city', city, 'state', state, 'postal_code', postal_code,
                          'country', country, 'tax_id', tax_id),
       $15::jsonb, subtotal, tax_label, tax_rate, reverse_charge, tax, subtotal + tax, lines_count, 0,
       CASE WHEN subtotal + tax = 0 THEN 'paid' ELSE 'issued' END,
       CASE WHEN subtotal + tax = 0 THEN $16::timestamptz END, $16
FROM priced
"""

INVOICE_LINES_SQL = """
INSERT INTO invoice_lines (invoice_id, charge_id, subscription_id, customer_name, description, charge_type, quantity,
                           unit_price, period_start, period_end, amount, fx_rate, source_currency, source_amount)
SELECT d.id, l.id, l.subscription_id, cust.name, s.title, l.charge_type, l.quantity, l.per_seat_amount,
       l.period_start, l.period_end, l.amount, l.fx_rate, l.source_currency, l.source_amount
FROM run_lines l
JOIN run_docs d ON d.account_id = l.account_id AND d.currency = l.currency
JOIN subscriptions s ON s.id = l.subscription_id
JOIN accounts cust ON cust.id = s.customer_id
ORDER BY d.id, l.id  -- in the key's order: each leaf of invoice_lines_pkey and of invoices_pkey visited once
"""

# in the order of the charges' ids, which is about the order of their pages: each page of charges and of its
# primary key is changed in one pass (in the batch's account order, every row meant another page)
MARK_SQL = """
UPDATE charges c SET invoice_id = x.invoice_id
FROM (SELECT l.id, d.id AS invoice_id
      FROM run_lines l JOIN run_docs d ON d.account_id = l.account_id AND d.currency = l.currency
      ORDER BY l.id) x
WHERE c.id = x.id
"""


async def request_run(actor: Principal, body: Any, *, account_id: uuid.UUID | None = None) -> dict:
    """An on-demand run (API.md `POST /billing/runs {as_of?}`): issued today, for the charges due by `as_of`
    (today when left out), for every account or one. Its operation has the run's id."""
    if actor.role != "csp_admin":
        raise Forbidden("Only the CSP's admins run billing.")
    body = body or {}
    if not isinstance(body, dict) or set(body) - {"as_of", "account_id"}:
        raise Invalid({"body": 'Send {as_of?: "YYYY-MM-DD"}.'})
    today = clock.now().date()
    as_of = today
    if body.get("as_of") is not None:
        try:
            as_of = date.fromisoformat(str(body["as_of"]))
        except ValueError:
            raise Invalid({"as_of": "as_of is a date, YYYY-MM-DD."}) from None
        if as_of > today:
            raise Invalid({"as_of": "A run invoices what is already due: as_of cannot be after today."})
    if body.get("account_id") is not None:
        try:
            account_id = uuid.UUID(str(body["account_id"]))
        except ValueError:
            raise Invalid({"account_id": "account_id is an account's id."}) from None
    async with db.transaction():
        if account_id is not None and not await db.fetchval("SELECT true FROM accounts WHERE id = $1", account_id):
            raise Invalid({"account_id": "No such account."})
        operation = await operations.create("billing_run", actor, subject_id="billing")
        await _create(operation["id"], as_of, today, None, account_id, actor.user_id)
    return operation


async def _create(
    run_id: uuid.UUID,
    as_of: date,
    issue_date: date,
    billing_day: int | None,
    account_id: uuid.UUID | None,
    requested_by: uuid.UUID | None,
) -> bool:
    inserted = await db.fetchval(
        "INSERT INTO billing_runs (id, as_of, issue_date, billing_day, account_id, status, requested_by, created_at) "
        "VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7) ON CONFLICT DO NOTHING RETURNING true",
        run_id,
        as_of,
        issue_date,
        billing_day,
        account_id,
        requested_by,
        clock.now(),
    )
    if inserted:
        await queue.enqueue(JOB, {"run_id": str(run_id)}, dedupe_key=f"{JOB}:{run_id}")
    return bool(inserted)


async def due(now: datetime) -> int:
    """Scheduled runs: on each day some account is billed on (its billing day, default the 1st), one run invoices
    what fell due by the day before. A clock moved past several billing days runs each of them, dated as it
    would have been. Idempotent: a run is unique per issue day and billing day."""
    today = now.date()
    days = {int(d) for d in await db.fetch_column("SELECT DISTINCT billing_day FROM accounts")}
    created = 0
    async with db.transaction():  # the days claimed and their runs commit together
        last = await db.fetchval(
            "WITH prev AS (SELECT last_day FROM scheduler_days WHERE name = 'billing_runs') "
            "INSERT INTO scheduler_days (name, last_day) VALUES ('billing_runs', $1) ON CONFLICT (name) "
            "DO UPDATE SET last_day = EXCLUDED.last_day WHERE scheduler_days.last_day < EXCLUDED.last_day "
            "RETURNING coalesce((SELECT last_day FROM prev), $1::date - 1)",
            today,
        )
        if last is None:  # today is claimed already
            return 0
        day = cast(date, last) + timedelta(days=1)
        while day <= today:
            if day.day in days:
                created += await _create(uuid.uuid4(), day - timedelta(days=1), day, day.day, None, None)
            day += timedelta(days=1)
    return created


async def execute(payload: dict, settings: Settings) -> None:
    """The job: issue every batch, then queue the mails and automatic payments of what it issued."""
    run_id = uuid.UUID(payload["run_id"])
    run = await db.fetchrow("SELECT * FROM billing_runs WHERE id = $1", run_id)
    if run is None or run["status"] == "completed":
        return
    await db.execute(
        "UPDATE billing_runs SET status = 'running', started_at = coalesce(started_at, $2) WHERE id = $1",
        run_id,
        clock.now(),
    )
    await operations.set_status(run_id, "running")
    try:
        while await issue_batch(dict(run)):
            pass
    except Exception as exc:
        await db.execute("UPDATE billing_runs SET error = $2 WHERE id = $1", run_id, str(exc)[:500])
        raise
    await follow_up(run_id)
    await db.execute(
        "UPDATE billing_runs SET status = 'completed', finished_at = $2, error = NULL WHERE id = $1",
        run_id,
        clock.now(),
    )
    await operations.set_status(run_id, "succeeded")


async def issue_batch(run: dict, batch: int = BATCH_ACCOUNTS) -> int:
    """One batch of accounts, in one transaction: returns how many documents it issued (0: the run is done)."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        accounts = await db.fetch_column(BATCH_SQL, run["as_of"], run["billing_day"], run["account_id"], batch)
        if not accounts:
            return 0
        await db.execute(LINES_SQL, run["as_of"], accounts)
        await db.execute(DOCS_SQL)
        counts = {
            r["kind"]: r["n"] for r in await db.fetch("SELECT kind, count(*)::int AS n FROM run_docs GROUP BY kind")
        }
        starts = {kind: await take_numbers(rules.series(kind, run["issue_date"]), n) for kind, n in counts.items()}
        defaults = await options.settings()
        tax = await _tax_arrays(defaults["seller_country"])
        currencies = [str(c).strip() for c in await db.fetch_column("SELECT DISTINCT currency FROM run_docs")]
        await db.execute(
            ISSUE_SQL,
            run["id"],
            rules.series("invoice", run["issue_date"]),
            starts.get("invoice", 0),
            rules.series("credit_note", run["issue_date"]),
            starts.get("credit_note", 0),
            *tax[:4],
            currencies,
            [money.minor_units(c) for c in currencies],
            defaults["payment_terms_days"],
            rules.NO_TAX.label,
            run["issue_date"],
            json.dumps(options.seller_of(defaults)),
            clock.now(),
            tax[4],
        )
        await db.execute(INVOICE_LINES_SQL)
        await db.execute(MARK_SQL)
        await db.execute(
            "UPDATE billing_runs SET invoices = invoices + $2, credit_notes = credit_notes + $3 WHERE id = $1",
            run["id"],
            counts.get("invoice", 0),
            counts.get("credit_note", 0),
        )
        return sum(counts.values())


async def take_numbers(series: str, count: int) -> int:
    """Reserve `count` numbers of a series in the caller's transaction; returns the last number before them."""
    last = await db.fetchval(
        "INSERT INTO document_series (series, last_number) VALUES ($1, $2) ON CONFLICT (series) "
        "DO UPDATE SET last_number = document_series.last_number + EXCLUDED.last_number RETURNING last_number",
        series,
        count,
    )
    return int(cast(int, last)) - count


async def _tax_arrays(seller_country: str) -> list[list]:
    """Each configured country's tax for a business buyer (with a VAT id) and for anyone else, as the rules decide
    it for this seller: country, label, rate, reverse charge and business, the columns ISSUE_SQL unnests."""
    taxes = [
        (r.country, business, rules.tax_for(seller_country, r.country, r, business=business))
        for r in await options.tax_rates()
        for business in (True, False)
    ]
    return [
        [country for country, _, _ in taxes],
        [tax.label for _, _, tax in taxes],
        [tax.rate for _, _, tax in taxes],
        [tax.reverse_charge for _, _, tax in taxes],
        [business for _, business, _ in taxes],
    ]


async def follow_up(run_id: uuid.UUID) -> None:
    """Each issued document is mailed with its PDF; invoices of accounts paying by saved card are charged."""
    documents = await db.fetch(
        "SELECT i.id, i.account_id, i.kind, i.status, a.auto_pay, "
        "EXISTS (SELECT 1 FROM payment_methods p WHERE p.account_id = i.account_id AND p.is_default "
        "        AND p.removed_at IS NULL) AS has_card "
        "FROM invoices i JOIN accounts a ON a.id = i.account_id WHERE i.run_id = $1",
        run_id,
    )
    await queue.enqueue_many(MAIL_JOB, [({"invoice_id": str(d["id"])}, f"{MAIL_JOB}:{d['id']}") for d in documents])
    await payments.apply_open_credit(list({d["account_id"] for d in documents}))
    await queue.enqueue_many(
        payments.AUTOPAY_JOB,
        [
            ({"invoice_id": str(d["id"]), "attempt": 1}, f"{payments.AUTOPAY_JOB}:{d['id']}:1")
            for d in documents
            if d["kind"] == "invoice" and d["status"] == "issued" and d["auto_pay"] and d["has_card"]
        ],
    )


async def get_run(viewer: Principal, run_id: uuid.UUID) -> dict:
    if viewer.role != "csp_admin":
        raise NotFound("This billing run was not found.")
    row = await db.fetchrow("SELECT * FROM billing_runs WHERE id = $1", run_id)
    if row is None:
        raise NotFound("This billing run was not found.")
    return run_json(dict(row))


async def list_runs(limit: int = 20) -> list[dict]:
    return [run_json(dict(r)) for r in await db.fetch(
        "SELECT * FROM billing_runs ORDER BY created_at DESC LIMIT $1", limit)]  # fmt: skip


def run_json(row: dict) -> dict:
    def stamp(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": str(row["id"]),
        "as_of": row["as_of"].isoformat(),
        "issue_date": row["issue_date"].isoformat(),
        "billing_day": row["billing_day"],
        "account_id": str(row["account_id"]) if row["account_id"] else None,
        "status": row["status"],
        "invoices": row["invoices"],
        "credit_notes": row["credit_notes"],
        "error": row["error"],
        "created_at": stamp(row["created_at"]),
        "started_at": stamp(row["started_at"]),
        "finished_at": stamp(row["finished_at"]),
    }


HANDLERS = {JOB: execute, MAIL_JOB: invoices.mail_document}
