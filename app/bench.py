"""`make bench`: Cloudseat's speed, each figure beside a baseline measured in the same run.

1. Price-sheet import: a synthetic NCE price sheet of 1,000,000 rows in Microsoft's format goes through the
   real sync path (COPY into the header-shaped table, typed staging, the set-based merge into catalog_prices),
   against a raw COPY of the same file into an unindexed table of text columns.
2. Price resolution: 10,000 random lookups through the catalog service (its queries and the pure rules), p50
   and p99 in milliseconds.
3. Monthly installments: 200,000 monthly-billed yearly subscriptions started over the past year; the
   scheduler's pass that charges every installment due (the real `lifecycle.charge_cycles`), against a plain
   INSERT ... SELECT of the same number of charge rows.

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
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from app import db
from app.partner_center.sandbox import catalog

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "10000"))
SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS", "200000"))
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
    from app.catalog import sync

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
    from app.catalog import rules, service

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
        "per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at) "
        "SELECT id, bill_to_id, 'new', 'new', quantity, start_date, start_date, 6, 6 * quantity, 'USD', 5.1, "
        "5.1 * quantity, 'USD', now() FROM subscriptions"
    )
    await db.execute("ANALYZE")


async def installments(today: datetime) -> tuple[float, int, float]:
    """The real pass, then the baseline: a plain INSERT ... SELECT of as many charge rows."""
    from app.subscriptions import lifecycle

    await checkpoint()
    started = time.perf_counter()
    charged = await lifecycle.charge_cycles(today.date())
    took = time.perf_counter() - started
    await checkpoint()
    started = time.perf_counter()
    # the same rows again, into the same table with its keys and indexes: only the writing, none of the deciding
    await db.execute(
        "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, "
        "period_end, per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at) "
        "SELECT subscription_id, account_id, 'cycle', 'baseline', quantity, period_start, period_end, "
        "per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at FROM charges "
        "WHERE charge_type = 'cycle'"
    )
    return took, charged, time.perf_counter() - started


async def main() -> None:
    from app.config import load_settings

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
    finally:
        await db.close_pool()


async def lifecycle_again(today: datetime) -> int:
    from app.subscriptions import lifecycle

    return await lifecycle.charge_cycles(today.date())


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
