"""`make bench`: Cloudseat's speed, each figure beside a baseline measured in the same run.

1. Price-sheet import: a synthetic NCE price sheet of 1,000,000 rows in Microsoft's format goes through the
   real sync path (COPY into the header-shaped table, typed staging, the set-based merge into catalog_prices),
   against a raw COPY of the same file into an unindexed table of text columns.
2. Price resolution: 10,000 random lookups through the catalog service (its queries and the pure rules), p50
   and p99 in milliseconds.
3. Monthly installments: 200,000 monthly-billed yearly subscriptions started over the past year; the
   scheduler's pass that charges every installment due (the real `lifecycle.charge_cycles`), against a plain
   INSERT ... SELECT of the same number of charge rows.
4. Billing run: 1,000,000 active subscriptions over 100,000 bill-to accounts (US/USD, DE/EUR, FR/EUR) with a
   month of charges, some accounts netting negative; one billing run (the real job, `runs.execute`: its batches
   and the follow-up that queues the mails and card payments and applies credit notes), checked for every due
   charge invoiced once and gapless numbers, against a plain INSERT ... SELECT of the same invoice lines.

It uses its own database (`cloudseat_bench` on the embedded server, or BENCH_DATABASE_URL), created afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg

from app import db
from app.billing import runs
from app.catalog import rules, service, sync
from app.config import load_settings
from app.partner_center.sandbox import catalog
from app.subscriptions import lifecycle

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "10000"))
SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS", "200000"))
BILLING_ACCOUNTS = int(os.environ.get("BENCH_BILLING_ACCOUNTS", "100000"))
SUBSCRIPTIONS_PER_ACCOUNT = 10
MARKETS = catalog.MARKETS
PLANS = (("P1Y", "Annual"), ("P1Y", "Monthly"), ("P1M", "Monthly"), ("P3Y", "Triennial"), ("P3Y", "Annual"))
HEADER = catalog.COLUMNS  # Microsoft's column names, as the sandbox serves them
CHUNK = 1 << 20


def offer_key(n: int) -> tuple[str, str]:
    return f"BENCH{n:07d}", f"{n % 9 + 1:04d}"


def write_sheet(path: Path, rows: int) -> int:
    """Microsoft's columns, every field quoted; per offer: 8 markets x 5 plans, half of them with a price change
    on the 1st of next month (two effective-dated rows)."""
    change = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)
    change = change.replace(day=1)
    before = (change - timedelta(seconds=1)).strftime("%-m/%-d/%Y %-I:%M:%S %p")
    after = change.strftime("%-m/%-d/%Y %-I:%M:%S %p")
    written = 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(HEADER)
        n = 0
        while written < rows:
            product, sku = offer_key(n)
            base = 2 + (n % 400) / 4
            for market, currency in MARKETS.items():
                for term, plan in PLANS:
                    price = round(base * (12 if term == "P1Y" else 1 if term == "P1M" else 36), 2)
                    spans = [("1/1/2025 12:00:00 AM", "12/31/9999 11:59:59 PM", price)]
                    if n % 2:
                        spans = [
                            ("1/1/2025 12:00:00 AM", before, price),
                            (after, "12/31/9999 11:59:59 PM", price * 1.1),
                        ]
                    for start, end, unit in spans:
                        if written >= rows:
                            return written
                        writer.writerow(
                            [f"Bench product {n}", product, sku, f"Bench SKU {n}", "Microsoft Corporation",
                             "A synthetic offer.", "", term, plan, market, currency, f"{unit * 0.8:.2f}", "", "",
                             start, end, "License", f"{unit:.2f}", "Commercial"]
                        )  # fmt: skip
                        written += 1
            n += 1
    return written


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


async def checkpoint() -> None:
    """Each measurement starts with no earlier write left to flush (needs pg_checkpoint on a server of yours)."""
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await db.execute("CHECKPOINT")


async def raw_copy(path: Path) -> float:
    """The baseline: COPY the same bytes into an unindexed table of text columns."""
    columns = [f"c{n}" for n in range(len(HEADER))]
    await db.execute(
        f"DROP TABLE IF EXISTS bench_raw; CREATE TABLE bench_raw ({', '.join(f'{c} text' for c in columns)})"
    )
    await checkpoint()
    started = time.perf_counter()
    async with db.transaction():
        await db.copy_in("bench_raw", file_chunks(path), columns, format="csv", header=True)
    took = time.perf_counter() - started
    await db.execute("DROP TABLE bench_raw")
    return took


async def sync_import(path: Path) -> tuple[float, int]:
    """The real sync path on the file: COPY, staging and the set-based merge of prices, in the run's one
    transaction. (A real sync takes its offers from the catalog API; here they come from the file's rows.)"""
    run_id = await db.fetchval(
        "INSERT INTO catalog_sync_runs (status, created_at) VALUES ('running', now()) RETURNING id"
    )
    await checkpoint()
    started = time.perf_counter()
    async with sync.staging():
        staged = await sync.load_price_sheet(file_chunks(path))
        await sync.merge_prices(int(run_id), list(MARKETS))  # type: ignore[call-overload]
    took = time.perf_counter() - started
    await db.execute(
        "INSERT INTO catalog_offers (id, product_id, sku_id, title, product_title, publisher, kind, segment, "
        "min_quantity, max_quantity, fingerprint, first_run_id, changed_run_id) "
        "SELECT DISTINCT offer_id, split_part(offer_id, ':', 1), split_part(offer_id, ':', 2), offer_id, offer_id, "
        "'Microsoft Corporation', 'license', 'commercial', 1, 300, '', $1::bigint, $1::bigint FROM catalog_prices "
        "ON CONFLICT (id) DO NOTHING",
        run_id,
    )
    await db.execute("UPDATE catalog_sync_runs SET status = 'completed' WHERE id = $1", run_id)
    return took, staged


async def lookups(count: int) -> list[float]:
    """Random offers, markets and plans priced through the catalog service, as the offer page does."""
    await db.execute(
        "UPDATE catalog_settings SET markets = $1, currencies = $2", list(MARKETS), sorted(set(MARKETS.values()))
    )
    await db.execute(
        "INSERT INTO margin_rules (id, scope, offer_id, kind, percent, created_at) "
        "SELECT gen_random_uuid(), 'product', id, 'markup_on_cost', 15, now() FROM catalog_offers "
        "ORDER BY id LIMIT 500"
    )
    settings = await service.catalog_settings()
    offers = [r["id"] for r in await db.fetch("SELECT id FROM catalog_offers")]
    pick = random.Random(7)  # noqa: S311 - the same lookups every run
    customer, reseller = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    timings = []
    for _ in range(count):
        offer = await service.get_offer(pick.choice(offers))
        market = pick.choice(list(MARKETS))
        term, plan = pick.choice(PLANS)
        buyer = rules.Buyer(country=market, currency=MARKETS[market], customer_id=customer, reseller_id=reseller)
        started = time.perf_counter()
        await service.quote_for(offer, buyer, term=term, billing_plan=plan.lower(), at=now, settings=settings)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def seed_subscriptions(count: int, today: datetime) -> None:
    """`count` monthly-billed P1Y subscriptions over count/100 customers, all bought a month ago today with their
    `new` charge posted, so each owes its second installment: the busiest morning the installments pass meets."""
    await db.execute(
        "INSERT INTO accounts (id, kind, name, email, country, currency, created_at, updated_at) "
        "SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'customer', 'Bench ' || n, "
        "'bench' || n || '@bench.test', 'US', 'USD', now(), now() FROM generate_series(1, $1) AS n",
        max(1, count // 100),
    )
    await db.execute(
        "INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, status, quantity, term, "
        "billing_plan, start_date, end_date, auto_renew, currency, unit_price, customer_unit_price, cost_price, "
        "cost_currency, created_at, updated_at) "
        "SELECT gen_random_uuid(), a, a, 'CFQ7TTC0LH18:0001', 'Microsoft 365 Business Basic', 'active', 1 + n % 40, "
        "'P1Y', 'monthly', d, (d + interval '1 year')::date - 1, true, 'USD', 72, 72, 61.2, 'USD', now(), now() "
        "FROM (SELECT n, ('00000000-0000-4000-8000-' || lpad((1 + n % $2)::text, 12, '0'))::uuid AS a, "
        "      ($3::date - interval '1 month')::date AS d FROM generate_series(1, $1) AS n) s",
        count,
        max(1, count // 100),
        today.date(),
    )
    await db.execute(
        "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, period_end, "
        "per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at, posted_on) "
        "SELECT id, bill_to_id, 'new', 'new', quantity, start_date, start_date, 6, 6 * quantity, 'USD', 5.1, "
        "5.1 * quantity, 'USD', now(), start_date FROM subscriptions"
    )
    await db.execute("ANALYZE")


async def installments(today: datetime) -> tuple[float, int, float]:
    """The real pass, then the baseline: a plain INSERT ... SELECT of as many charge rows."""
    await checkpoint()
    started = time.perf_counter()
    charged = await lifecycle.charge_cycles(today.date())
    took = time.perf_counter() - started
    await checkpoint()
    started = time.perf_counter()
    # the same rows again, into the same table with its keys and indexes: only the writing, none of the deciding
    await db.execute(
        "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, "
        "period_end, per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at, "
        "posted_on) "
        "SELECT subscription_id, account_id, 'cycle', 'baseline', quantity, period_start, period_end, "
        "per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at, posted_on "
        "FROM charges "
        "WHERE charge_type = 'cycle'"
    )
    return took, charged, time.perf_counter() - started


# the billing part's accounts: n = 1..BILLING_ACCOUNTS; every tenth account n % 10 = 1 is German, n % 10 = 2 French
BILLING_ACCOUNT_ID = "'00000000-0000-4000-b000-' || lpad(({n})::text, 12, '0')"
OFFERS = (  # offer, title, monthly price per seat
    ("CFQ7TTC0LH18:0001", "Microsoft 365 Business Basic", 6),
    ("CFQ7TTC0LDPB:0001", "Microsoft 365 Business Standard", 12.5),
    ("CFQ7TTC0LFLZ:0001", "Microsoft 365 E3", 36),
    ("CFQ7TTC0LH16:0001", "Exchange Online (Plan 1)", 4),
)


async def seed_billing(accounts: int, as_of: date) -> dict[str, int]:
    """`accounts` bill-to accounts (80% US/USD, 10% DE/EUR, 10% FR/EUR; every fifth with a saved card), 10 active
    subscriptions each (random ids, as in life), and a month of charges by `as_of`, in the order the daily scheduler
    posts them (by day, the accounts interleaved): one installment per subscription (`new` for those bought this
    month), 2% negative lines (all ten subscriptions of every 50th account reduced by more than they were charged,
    so it nets negative and gets a credit note; one subscription of another 2% reduced a little), and one seat added
    after `as_of` per 1,000 subscriptions, which the run must leave alone. The earlier parts' subscriptions and
    charges are truncated first, so the run sees only these."""
    await db.execute(
        "TRUNCATE charges, subscriptions, invoice_lines, invoices, billing_runs, document_series, payments, "
        "payment_methods CASCADE"
    )
    await db.execute(
        "UPDATE billing_settings SET seller_name = 'Bench CSP GmbH', seller_country = 'DE', updated_at = now()"
    )
    await db.execute(
        "INSERT INTO tax_rates (country, label, rate, reverse_charge, updated_at) VALUES "
        "('DE', 'MwSt.', 19, true, now()), ('FR', 'TVA', 20, true, now()) "
        "ON CONFLICT (country) DO UPDATE SET label = EXCLUDED.label, rate = EXCLUDED.rate, "
        "reverse_charge = EXCLUDED.reverse_charge"
    )
    await db.execute(
        "INSERT INTO accounts (id, kind, name, email, country, currency, address_line1, city, postal_code, tax_id, "
        "created_at, updated_at) "
        f"SELECT ({BILLING_ACCOUNT_ID.format(n='n')})::uuid, 'customer', 'Billing bench ' || n, "
        "'billing' || n || '@bench.test', country, CASE country WHEN 'US' THEN 'USD' ELSE 'EUR' END, "
        "n || ' Bench Street', CASE country WHEN 'DE' THEN 'Berlin' WHEN 'FR' THEN 'Paris' ELSE 'Seattle' END, "
        "lpad((n % 100000)::text, 5, '0'), CASE country WHEN 'US' THEN '' ELSE country || lpad(n::text, 9, '0') END, "
        "now(), now() "
        "FROM (SELECT n, CASE n % 10 WHEN 1 THEN 'DE' WHEN 2 THEN 'FR' ELSE 'US' END AS country "
        "      FROM generate_series(1, $1) AS n) g",
        accounts,
    )
    await db.execute(
        "INSERT INTO payment_methods (id, account_id, gateway, gateway_ref, brand, last4, exp_month, exp_year, "
        f"is_default, created_at) SELECT gen_random_uuid(), ({BILLING_ACCOUNT_ID.format(n='n')})::uuid, 'sandbox', "
        "'card_bench_' || n, 'visa', '4242', 12, 2030, true, now() FROM generate_series(3, $1, 5) AS n",
        accounts,
    )
    offers, titles, prices = (list(column) for column in zip(*OFFERS, strict=True))
    # one statement: the subscriptions (CTE) and their charges, from the same generated rows
    await db.execute(
        "WITH g AS MATERIALIZED ("
        f"  SELECT n, n / 10 + 1 AS k, gen_random_uuid() AS id, ({BILLING_ACCOUNT_ID.format(n='n / 10 + 1')})::uuid "
        "   AS account_id, CASE (n / 10 + 1) % 10 WHEN 1 THEN 'EUR' WHEN 2 THEN 'EUR' ELSE 'USD' END AS currency, "
        "   1 + n % 25 AS quantity, 1 + n % 4 AS offer, $2::date - n % 30 AS posted_on "
        "  FROM generate_series(0, $1 - 1) AS n"
        "), subs AS ("
        "  INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, status, quantity, term, "
        "  billing_plan, start_date, end_date, auto_renew, currency, unit_price, customer_unit_price, cost_price, "
        "  cost_currency, created_at, updated_at) "
        "  SELECT id, account_id, account_id, ($3::text[])[offer], ($4::text[])[offer], 'active', quantity, 'P1Y', "
        "  'monthly', start_date, (start_date + interval '1 year')::date - 1, true, currency, "
        "  12 * ($5::numeric[])[offer], 12 * ($5::numeric[])[offer], 10.2 * ($5::numeric[])[offer], currency, "
        "  start_date, start_date "
        "  FROM (SELECT *, (posted_on - make_interval(months => n % 12))::date AS start_date FROM g) s"
        ") "
        "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, period_end, "
        "per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at, posted_on) "
        "SELECT id, account_id, charge_type, reason, seats, posted_on, (posted_on + interval '1 month')::date - 1, "
        "per_seat, per_seat * seats, currency, 0.85 * per_seat, 0.85 * per_seat * seats, currency, posted_on, "
        "posted_on "
        "FROM ("
        "  SELECT n, id, account_id, currency, posted_on, CASE WHEN n % 12 = 0 THEN 'new' ELSE 'cycle' END "
        "  AS charge_type, CASE WHEN n % 12 = 0 THEN 'new' ELSE 'cycle' END AS reason, quantity AS seats, "
        "  ($5::numeric[])[offer] AS per_seat FROM g "
        "  UNION ALL "  # every 50th account: all ten reduced by more than they were charged
        "  SELECT n, id, account_id, currency, posted_on, 'remove_quantity', 'seats:bench:old', quantity + 5, "
        "  -($5::numeric[])[offer] FROM g WHERE k % 50 = 0 "
        "  UNION ALL "  # another 2% of the accounts: one subscription reduced by a seat, the invoice stays positive
        "  SELECT n, id, account_id, currency, posted_on, 'remove_quantity', 'seats:bench:old', 1, "
        "  -($5::numeric[])[offer] FROM g WHERE k % 50 = 25 AND n % 10 = 0 "
        "  UNION ALL "  # not due yet: posted the day after as_of
        "  SELECT n, id, account_id, currency, $2::date + 1, 'add_quantity', 'seats:bench:new', 1, "
        "  ($5::numeric[])[offer] FROM g WHERE n % 1000 = 999"
        ") c ORDER BY posted_on, hashint4(n)",  # a day's charges in no order of account or subscription
        accounts * SUBSCRIPTIONS_PER_ACCOUNT,
        as_of,
        offers,
        titles,
        prices,
    )
    # a month-old ledger has been vacuumed and analyzed by autovacuum: so is this one
    for table in ("accounts", "payment_methods", "subscriptions", "charges"):
        await db.execute(f"VACUUM ANALYZE {table}")
    row = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE posted_on <= $1)::int AS due, count(*)::int AS charges, "
        "(SELECT count(*)::int FROM (SELECT DISTINCT account_id, currency FROM charges WHERE posted_on <= $1) p) "
        "AS pairs, (SELECT count(*)::int FROM (SELECT 1 FROM charges WHERE posted_on <= $1 "
        "           GROUP BY account_id, currency HAVING sum(amount) < 0) n) AS negative "
        "FROM charges",
        as_of,
    )
    assert row is not None
    return row


def _timed(spans: dict[str, list[float]], name: str, real: Callable[..., Awaitable[Any]]) -> Callable:
    async def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return await real(*args)
        finally:
            spans.setdefault(name, []).append(time.perf_counter() - started)

    return timed


async def billing_run(as_of: date, issue_date: date, settings: Any) -> tuple[uuid.UUID, float, dict[str, list[float]]]:
    """The whole run as the worker does it: the run created (its row and its job) and `runs.execute`, timing its
    batches (`issue_batch`) and its follow-up on the way."""
    spans: dict[str, list[float]] = {}
    run_id = uuid.uuid4()
    await checkpoint()
    started = time.perf_counter()
    with (
        mock.patch.object(runs, "issue_batch", _timed(spans, "batches", runs.issue_batch)),
        mock.patch.object(runs, "follow_up", _timed(spans, "follow_up", runs.follow_up)),
    ):
        async with db.transaction():
            await runs._create(run_id, as_of, issue_date, None, None, None)
        await runs.execute({"run_id": str(run_id)}, settings)
    return run_id, time.perf_counter() - started, spans


async def check_billing_run(run_id: uuid.UUID, as_of: date, seeded: dict[str, int]) -> dict[str, int]:
    """Cheap SQL that the run did what it must: each due charge on exactly one line of the document its charge
    points at, nothing not yet due touched, one document per account and currency, gapless numbers per series,
    tax per the buyer's country, one mail per document."""
    due = seeded["due"]
    charges = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE invoice_id IS NULL AND posted_on <= $1)::int AS missed, "
        "count(*) FILTER (WHERE invoice_id IS NOT NULL AND posted_on > $1)::int AS early FROM charges",
        as_of,
    )
    assert charges == {"missed": 0, "early": 0}, charges
    lines = await db.fetchrow(
        "SELECT count(*)::int AS lines, count(DISTINCT l.charge_id)::int AS charges, "
        "count(*) FILTER (WHERE l.amount = c.amount)::int AS same_amount "
        "FROM invoice_lines l JOIN charges c ON c.id = l.charge_id AND c.invoice_id = l.invoice_id"
    )
    assert lines == {"lines": due, "charges": due, "same_amount": due}, lines
    assert await db.fetchval("SELECT count(*) FROM invoice_lines") == due
    docs = await db.fetchrow(
        "SELECT count(*)::int AS documents, count(*) FILTER (WHERE kind = 'credit_note')::int AS credit_notes, "
        "count(DISTINCT (account_id, currency))::int AS pairs, sum(lines_count)::int AS lines "
        "FROM invoices WHERE run_id = $1",
        run_id,
    )
    assert docs == {
        "documents": seeded["pairs"],
        "credit_notes": seeded["negative"],
        "pairs": seeded["pairs"],
        "lines": due,
    }, docs
    gapless = 0
    for series in await db.fetch(
        "SELECT i.*, s.last_number AS last FROM (SELECT left(number, -7) AS series, count(*)::int AS n, "
        "min(right(number, 6)::int) AS low, max(right(number, 6)::int) AS high FROM invoices GROUP BY 1) i "
        "LEFT JOIN document_series s ON s.series = i.series"
    ):
        assert (series["low"], series["high"], series["last"]) == (1, series["n"], series["n"]), series  # unique: a key
        gapless += series["n"]
    assert gapless == seeded["pairs"], gapless
    wrong_tax = await db.fetchval(
        "SELECT count(*) FROM invoices WHERE run_id = $1 AND CASE buyer->>'country' "
        "WHEN 'DE' THEN tax <> round(subtotal * 0.19, 2) OR reverse_charge "
        "WHEN 'FR' THEN tax <> 0 OR NOT reverse_charge ELSE tax <> 0 OR tax_label <> 'No tax' END",
        run_id,
    )
    assert wrong_tax == 0, wrong_tax
    run = await db.fetchrow("SELECT * FROM billing_runs WHERE id = $1", run_id)
    assert run is not None
    assert run["status"] == "completed", run
    assert run["invoices"] + run["credit_notes"] == seeded["pairs"], run
    jobs = {
        r["entrypoint"]: r["n"]
        for r in await db.fetch("SELECT entrypoint, count(*)::int AS n FROM pgqueuer GROUP BY entrypoint")
    }
    carded = await db.fetchval(
        "SELECT count(*)::int FROM invoices i JOIN payment_methods p ON p.account_id = i.account_id "
        "WHERE i.run_id = $1 AND i.kind = 'invoice' AND i.status = 'issued'",
        run_id,
    )
    assert isinstance(carded, int)
    assert jobs.get("invoice_mail") == seeded["pairs"], jobs
    assert jobs.get("invoice_autopay", 0) == carded, (jobs, carded)
    return {"invoices": run["invoices"], "credit_notes": run["credit_notes"], "autopay": carded}


async def lines_baseline() -> float:
    """The baseline: the run's invoice lines written again by a plain INSERT ... SELECT into a logged copy of
    invoice_lines with what the real table has (its columns, key and CHECKs by LIKE ... INCLUDING ALL, plus the
    foreign key to invoices that LIKE leaves out); not unlogged, since the run's lines must go through the WAL."""
    await db.execute(
        "DROP TABLE IF EXISTS bench_lines; CREATE TABLE bench_lines (LIKE invoice_lines INCLUDING ALL); "
        "ALTER TABLE bench_lines ADD FOREIGN KEY (invoice_id) REFERENCES invoices (id)"
    )
    await checkpoint()
    started = time.perf_counter()
    await db.execute("INSERT INTO bench_lines SELECT * FROM invoice_lines")
    took = time.perf_counter() - started
    await db.execute("DROP TABLE bench_lines")
    return took


async def main() -> None:
    settings = load_settings()
    url = os.environ.get("BENCH_DATABASE_URL") or db.embedded_server_url(settings.data_dir, "cloudseat_bench")
    if not os.environ.get("BENCH_DATABASE_URL"):
        admin = await asyncpg.connect(db.with_database(url, "postgres"))
        await admin.execute('DROP DATABASE IF EXISTS "cloudseat_bench"')
        await admin.close()
    await db.ensure_database(url)
    db.configure(url)
    await db.open_pool(max_size=4)
    try:
        await db.migrate()
        sheet = settings.data_dir / "bench" / "pricesheet.csv"
        sheet.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        rows = write_sheet(sheet, ROWS)
        size = sheet.stat().st_size / 1e6
        print(f"price sheet: {rows:,} rows, {size:.0f} MB, written in {time.perf_counter() - started:.1f} s")
        baseline = await raw_copy(sheet)
        took, staged = await sync_import(sheet)
        stored = await db.fetchval("SELECT count(*) FROM catalog_prices")
        print(f"raw COPY into an unindexed table: {rows / baseline:>12,.0f} rows/s ({baseline:.2f} s)")
        print(f"sync import (COPY, staging, merge): {rows / took:>10,.0f} rows/s ({took:.2f} s)")
        print(f"  {staged:,} rows staged, {stored:,} price rows stored")
        print(f"import / raw COPY: {baseline / took:.2f} (target >= 0.30)")
        again, _ = await sync_import(sheet)
        print(
            f"re-sync of the same sheet (every row compared, none changed): {rows / again:,.0f} rows/s ({again:.2f} s)"
        )
        timings = await lookups(LOOKUPS)
        p50, p99 = statistics.quantiles(timings, n=100)[49], statistics.quantiles(timings, n=100)[98]
        print(f"price resolution, {len(timings):,} random lookups: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 < 2)")
        sheet.unlink()
        today = datetime.now(UTC)
        await seed_subscriptions(SUBSCRIPTIONS, today)
        took, charged, baseline = await installments(today)
        print(f"monthly installments, {SUBSCRIPTIONS:,} subscriptions: {charged:,} cycle charges in {took:.2f} s")
        print(
            f"  {charged / took:,.0f} charges/s; plain INSERT ... SELECT of the same rows into charges: "
            f"{charged / baseline:,.0f} rows/s ({baseline:.2f} s); ratio {baseline / took:.2f}"
        )
        again = time.perf_counter()
        await db.execute("DELETE FROM charges WHERE reason = 'baseline'")
        assert await lifecycle_again(today) == 0
        print(f"  the pass again (nothing due): {time.perf_counter() - again:.2f} s")
        await billing(today, settings)
    finally:
        await db.close_pool()


async def billing(today: datetime, settings: Any) -> None:
    """Part 4: the data, the run (timed, then checked), the baseline."""
    as_of, issue_date = today.date() - timedelta(days=1), today.date()  # as a scheduled run: what fell due by yesterday
    started = time.perf_counter()
    seeded = await seed_billing(BILLING_ACCOUNTS, as_of)
    subscriptions = BILLING_ACCOUNTS * SUBSCRIPTIONS_PER_ACCOUNT
    print(
        f"billing data: {BILLING_ACCOUNTS:,} accounts, {subscriptions:,} subscriptions, {seeded['charges']:,} charges "
        f"({seeded['due']:,} due), generated in {time.perf_counter() - started:.1f} s"
    )
    run_id, took, spans = await billing_run(as_of, issue_date, settings)
    counts = await check_billing_run(run_id, as_of, seeded)
    documents = counts["invoices"] + counts["credit_notes"]
    *issuing, last = spans["batches"]  # the last call finds nothing left and ends the run
    print(
        f"billing run: {documents:,} documents ({counts['invoices']:,} invoices, {counts['credit_notes']:,} credit "
        f"notes), {seeded['due']:,} lines in {took:.2f} s (target < 60 s); {documents / took:,.0f} invoices/s"
    )
    print(
        f"  {len(issuing)} batches of up to {runs.BATCH_ACCOUNTS:,} accounts: {sum(spans['batches']):.2f} s "
        f"({', '.join(f'{t:.1f}' for t in issuing)}; the last, empty: {last:.1f}); "
        f"follow-up {sum(spans['follow_up']):.2f} s "
        f"({documents:,} mails and {counts['autopay']:,} card payments queued)"
    )
    baseline = await lines_baseline()
    print(
        f"  plain INSERT ... SELECT of the same lines into a copy of invoice_lines: {seeded['due'] / baseline:,.0f} "
        f"rows/s ({baseline:.2f} s); ratio {baseline / took:.2f}"
    )


async def lifecycle_again(today: datetime) -> int:
    return await lifecycle.charge_cycles(today.date())


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
