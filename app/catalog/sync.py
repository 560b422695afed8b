"""Catalog sync: offers from Partner Center's catalog API and the NCE price sheet of every market the CSP sells
in (this month's and next month's), merged set-based into catalog_offers and catalog_prices.

The price sheet is never parsed row by row in Python: its CSV bytes go through COPY into a temporary table
shaped like the file's header (Microsoft's column names, any order, unknown columns tolerated; COPY parses the
numbers and times), one INSERT ... SELECT normalises them into the run's temporary staging table, and one
merge per table at the end counts what is new, changed and gone. The whole run is one transaction on one
connection (temporary tables, nothing half-merged after a crash); its progress is written beside it on
another connection so the admin page sees it. A run is a job: a retried run starts over; one runs at a time.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from app import clock, db
from app.accounts.rules import Principal
from app.audit import service as audit
from app.config import Settings
from app.errors import Forbidden
from app.jobs import queue
from app.operations import service as operations
from app.partner_center import models as m
from app.partner_center.client import PartnerCenterClient
from app.partner_center.connection import sync_client

log = logging.getLogger(__name__)
JOB = "catalog_sync"
TIMELINES = ("current", "future")
CONCURRENCY = 8

# staging column <- Microsoft's header, compared lower-case with everything but letters removed
# ("ERP Price" -> "erpprice"), so stray quotes or spaces in a header do not matter (facts 5.2)
SHEET_COLUMNS = {
    "productid": "product_id",
    "skuid": "sku_id",
    "producttitle": "product_title",
    "skutitle": "sku_title",
    "publisher": "publisher",
    "termduration": "term",
    "billingplan": "billing_plan",
    "market": "market",
    "currency": "currency",
    "unitprice": "unit_price",
    "erpprice": "erp_price",
    "effectivestartdate": "effective_start",
    "effectiveenddate": "effective_end",
    "segment": "segment",
}
REQUIRED = ("product_id", "sku_id", "billing_plan", "market", "currency", "unit_price", "effective_start")


class SheetError(ValueError):
    pass


def sheet_columns(header_line: str) -> list[str]:
    """Names for the raw table's columns in the file's order: ours for known headers, `extra_<n>` otherwise."""
    header = next(csv.reader([header_line]))
    names = []
    for n, title in enumerate(header):
        key = re.sub(r"[^a-z]", "", title.lower())
        names.append(SHEET_COLUMNS.get(key, f"extra_{n}"))
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise SheetError(f"The price sheet has no {', '.join(missing)} column.")
    return names


# COPY parses numbers and times itself (C input functions, DateStyle MDY reads "2/1/2019 12:00:00 AM"); SQL
# then normalises the rest: SkuId to 4 characters, plans and segments as Cloudseat spells them, an empty ERP
# read as the unit price, no end as Microsoft's own 9999-12-31
TYPED = {
    "unit_price": "numeric",
    "erp_price": "numeric",
    "effective_start": "timestamptz",
    "effective_end": "timestamptz",
}
OPTIONAL = ("segment", "term", "erp_price", "effective_end")
STAGING_SQL = """
CREATE TEMP TABLE price_staging (offer_id text COLLATE "C", market text COLLATE "C", currency text,
    segment text COLLATE "C", term text COLLATE "C", billing_plan text COLLATE "C", unit_price numeric,
    erp_price numeric, effective_start timestamptz, effective_end timestamptz) ON COMMIT DROP
"""
# Microsoft's own spellings take the first branch of each CASE (the fast path); anything else is normalised
NORMALISED_SQL = """
SELECT upper(product_id) || ':' || lpad(upper(sku_id), 4, '0') AS offer_id, upper(market) AS market,
    upper(currency) AS currency,
    CASE WHEN {segment} IS NULL OR {segment} IN ('', 'Commercial') THEN 'commercial'
        WHEN lower({segment}) = 'charity' THEN 'nonprofit' ELSE lower(btrim({segment})) END AS segment,
    coalesce({term}, '') AS term,
    CASE billing_plan WHEN 'Monthly' THEN 'monthly' WHEN 'Annual' THEN 'annual' WHEN 'Triennial' THEN 'triennial'
        WHEN 'None' THEN 'none' WHEN 'OneTime' THEN 'one_time'
        ELSE replace(replace(lower(btrim(billing_plan)), ' ', ''), 'onetime', 'one_time') END AS billing_plan,
    unit_price, coalesce({erp_price}, unit_price) AS erp_price, effective_start,
    coalesce({effective_end}, '9999-12-31 23:59:59+00') AS effective_end
FROM price_sheet_raw WHERE unit_price IS NOT NULL
"""
PRICE_KEY = ("offer_id", "term", "billing_plan", "market", "segment", "effective_start")  # catalog_prices' key


def same_price_key(left: str, right: str) -> str:
    """SQL saying two aliased rows have the same price key."""
    return " AND ".join(f"{left}.{column} = {right}.{column}" for column in PRICE_KEY)


STAGE_SQL = f"""
INSERT INTO price_staging (offer_id, market, currency, segment, term, billing_plan, unit_price, erp_price,
    effective_start, effective_end)
SELECT * FROM ({{normalised}}) n
WHERE NOT $1::boolean OR NOT EXISTS (SELECT 1 FROM price_staging s WHERE {same_price_key("s", "n")})
"""


@asynccontextmanager
async def staging() -> AsyncIterator[None]:
    """The run's transaction: UTC, Microsoft's month/day/year dates, and the temporary staging table."""
    async with db.transaction():
        await db.execute("SET LOCAL TIME ZONE 'UTC'; SET LOCAL DateStyle = 'ISO, MDY'")
        await db.execute(STAGING_SQL)
        yield


async def load_price_sheet(chunks: AsyncIterator[bytes], *, skip_staged: bool = False) -> int:
    """COPY one market's sheet into the run's staging (inside `staging()`); returns the rows staged. With
    `skip_staged` (the next month's sheet) rows already staged from this month's are left out: both sheets hold
    the rows in force across the month boundary."""
    head = b""
    async for chunk in chunks:
        head += chunk
        if b"\n" in head:
            break
    header, _, rest = head.partition(b"\n")
    if not header.strip():
        return 0
    columns = sheet_columns(header.decode("utf-8-sig").rstrip("\r"))

    async def body() -> AsyncIterator[bytes]:
        if rest:
            yield rest
        async for chunk in chunks:
            yield chunk

    present = set(columns)
    optional = {c: (c if c in present else f"NULL::{TYPED.get(c, 'text')}") for c in OPTIONAL}
    definitions = ", ".join(f"{c} {TYPED.get(c, 'text')}" for c in columns)
    await db.execute(f"CREATE TEMP TABLE price_sheet_raw ({definitions})")
    try:
        await db.copy_in(
            "price_sheet_raw", body(), columns, format="csv", force_null=[c for c in columns if c in TYPED]
        )
    except asyncpg.DataError as exc:  # a value Microsoft's format does not allow: say where
        raise SheetError(f"The price sheet could not be read: {exc}") from None
    staged = await db.execute(STAGE_SQL.format(normalised=NORMALISED_SQL.format(**optional)), skip_staged)
    await db.execute("DROP TABLE price_sheet_raw")
    return _count(staged)


# --- Offers from the catalog API ------------------------------------------------------------------------------


def offer_record(product: m.Product, sku: m.Sku, availabilities: list[m.Availability]) -> dict | None:
    """Cloudseat's offer from Microsoft's product, SKU and availabilities (facts 4.2)."""
    if not (product.id and sku.id) or not availabilities:
        return None
    software = product.product_type is not None and (product.product_type.id or "").lower() == "software"
    has_term = any(t.duration for a in availabilities for t in a.terms)
    kind = (
        "trial" if sku.is_trial else ("software_subscription" if has_term else "perpetual") if software else "license"
    )
    segment = (availabilities[0].segment or "commercial").lower()
    attestation = sku.attestation_properties
    record = {
        "id": f"{product.id.upper()}:{sku.id.upper().zfill(4)}",
        "product_id": product.id.upper(),
        "sku_id": sku.id.upper().zfill(4),
        "title": sku.title or product.title or "",
        "product_title": product.title or "",
        "description": sku.description or product.description or "",
        "publisher": product.publisher_name or "Microsoft Corporation",
        "kind": kind,
        "segment": segment if segment in ("commercial", "education", "government", "nonprofit") else "commercial",
        "is_addon": sku.is_addon,
        "prerequisites": sorted(sku.prerequisite_skus),
        "upgrade_targets": list(sku.upgrade_target_offers),
        "min_quantity": sku.minimum_quantity or 1,
        "max_quantity": sku.maximum_quantity or 1,
        # Microsoft publishes only that a SKU has a pooled per-tenant limit; it is the SKU's maximum (facts 4.3)
        "tenant_max": sku.maximum_quantity if sku.has_constraints else None,
        "requires_attestation": bool(attestation and attestation.enforce_attestation),
        "provisioning_id": sku.provisioning_id or "",
        "availability_id": availabilities[0].id or "",
    }
    record["fingerprint"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return record


async def fetch_offers(client: PartnerCenterClient, country: str) -> list[dict]:
    """Every offer of the catalog in `country`: products of both views, their SKUs and availabilities."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def limited(call: Any) -> Any:
        async with limit:
            return await call

    products = [p for view in ("OnlineServices", "Software") for p in await client.products(country, view)]
    sku_lists = await asyncio.gather(*(limited(client.skus(str(p.id), country)) for p in products))
    pairs = [(p, s) for p, skus in zip(products, sku_lists, strict=True) for s in skus]
    availability_lists = await asyncio.gather(
        *(limited(client.availabilities(str(p.id), str(s.id), country)) for p, s in pairs)
    )
    records = [offer_record(p, s, a) for (p, s), a in zip(pairs, availability_lists, strict=True)]
    unique = {r["id"]: r for r in records if r}
    return list(unique.values())


def promotion_record(promotion: m.ProductPromotion, market: str) -> dict | None:
    """A synced promotion: which offer, term and plan it discounts by what percent, and its constraints."""
    if not (promotion.id and promotion.start_date and promotion.end_date):
        return None
    constraints = promotion.promotion_constraints
    seats = constraints.seat_constraints[0] if constraints and constraints.seat_constraints else None
    products = [
        {
            "offer_id": f"{(r.product_id or '').upper()}:{(r.sku_id or '').upper().zfill(4)}",
            "term": r.term.duration if r.term else None,
            "billing_plan": (r.term.billing_cycle or "").lower() if r.term else None,
            "percent": str(next((pp.decimal_value for pp in r.pricing_policies if pp.decimal_value), 0)),
        }
        for r in promotion.required_products
    ]
    return {
        "id": promotion.id,
        "market": market,
        "name": promotion.name or promotion.id,
        "description": promotion.description or "",
        "starts_at": promotion.start_date.isoformat(),
        "ends_at": promotion.end_date.isoformat(),
        "auto_applicable": bool(promotion.properties and promotion.properties.is_auto_applicable),
        "products": products,
        "min_seats": seats.min_seats if seats else None,
        "max_seats": seats.max_seats if seats else None,
        "first_purchase_only": bool(
            constraints
            and any(c.type == "FirstPurchase" and c.is_applicable for c in constraints.eligibility_constraints)
        ),
    }


async def fetch_promotions(client: PartnerCenterClient, markets: list[str]) -> list[dict]:
    found = await asyncio.gather(*(client.promotions(market) for market in markets))
    return [
        r
        for market, promotions in zip(markets, found, strict=True)
        for p in promotions
        if (r := promotion_record(p, market))
    ]


MERGE_PROMOTIONS_SQL = """
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id text, market text, name text, description text,
        starts_at timestamptz, ends_at timestamptz, auto_applicable boolean, products jsonb, min_seats int,
        max_seats int, first_purchase_only boolean)
), gone AS (
    DELETE FROM catalog_promotions p WHERE p.market = ANY($3::text[])
      AND NOT EXISTS (SELECT 1 FROM incoming i WHERE (i.id, i.market) = (p.id, p.market))
)
INSERT INTO catalog_promotions (id, market, name, description, starts_at, ends_at, auto_applicable, products,
    min_seats, max_seats, first_purchase_only, run_id)
SELECT id, market, name, description, starts_at, ends_at, auto_applicable, products, min_seats, max_seats,
    first_purchase_only, $1 FROM incoming
ON CONFLICT (id, market) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
    starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, auto_applicable = EXCLUDED.auto_applicable,
    products = EXCLUDED.products, min_seats = EXCLUDED.min_seats, max_seats = EXCLUDED.max_seats,
    first_purchase_only = EXCLUDED.first_purchase_only, run_id = EXCLUDED.run_id
"""


MERGE_OFFERS_SQL = """
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id text, product_id text, sku_id text, title text,
        product_title text, description text, publisher text, kind text, segment text, is_addon boolean,
        prerequisites text[], upgrade_targets text[], min_quantity int, max_quantity int, tenant_max int,
        requires_attestation boolean, provisioning_id text, availability_id text, fingerprint text)
), merged AS (
    INSERT INTO catalog_offers AS o (id, product_id, sku_id, title, product_title, description, publisher, kind,
        segment, is_addon, prerequisites, upgrade_targets, min_quantity, max_quantity, tenant_max,
        requires_attestation, provisioning_id, availability_id, fingerprint, first_run_id, changed_run_id)
    SELECT id, product_id, sku_id, title, product_title, description, publisher, kind, segment, is_addon,
        prerequisites, upgrade_targets, min_quantity, max_quantity, tenant_max, requires_attestation,
        provisioning_id, availability_id, fingerprint, $1, $1
    FROM incoming
    ON CONFLICT (id) DO UPDATE SET product_id = EXCLUDED.product_id, sku_id = EXCLUDED.sku_id,
        title = EXCLUDED.title, product_title = EXCLUDED.product_title, description = EXCLUDED.description,
        publisher = EXCLUDED.publisher, kind = EXCLUDED.kind, segment = EXCLUDED.segment,
        is_addon = EXCLUDED.is_addon, prerequisites = EXCLUDED.prerequisites,
        upgrade_targets = EXCLUDED.upgrade_targets, min_quantity = EXCLUDED.min_quantity,
        max_quantity = EXCLUDED.max_quantity, tenant_max = EXCLUDED.tenant_max,
        requires_attestation = EXCLUDED.requires_attestation, provisioning_id = EXCLUDED.provisioning_id,
        availability_id = EXCLUDED.availability_id, fingerprint = EXCLUDED.fingerprint, changed_run_id = $1,
        status = 'active', discontinued_at = NULL
    WHERE o.fingerprint <> EXCLUDED.fingerprint OR o.status <> 'active'
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS new, count(*) FILTER (WHERE NOT inserted) AS changed FROM merged
"""

INSERT_PRICES_SQL = """
INSERT INTO catalog_prices (offer_id, term, billing_plan, market, segment, effective_start, effective_end, currency,
    unit_price, erp_price, first_run_id, changed_run_id)
SELECT offer_id, term, billing_plan, market, segment, effective_start, effective_end, currency, unit_price,
    erp_price, $1, $1
FROM {source}
"""
# One pass over the synced markets: each staged row against the stored one with its key. Only what differs is
# kept: `new` (not stored), `changed` (other values, or back after being removed), `gone` (stored, in force this
# month or later, and in neither sheet: Microsoft dropped it). Unchanged rows, the bulk of a re-sync, stop here.
DIFF_SQL = f"""
CREATE TEMP TABLE price_diff ON COMMIT DROP AS
SELECT CASE WHEN p.offer_id IS NULL THEN 'new' WHEN i.offer_id IS NULL THEN 'gone' ELSE 'changed' END AS kind,
    coalesce(i.offer_id, p.offer_id) AS offer_id, coalesce(i.term, p.term) AS term,
    coalesce(i.billing_plan, p.billing_plan) AS billing_plan, coalesce(i.market, p.market::text) AS market,
    coalesce(i.segment, p.segment) AS segment, coalesce(i.effective_start, p.effective_start) AS effective_start,
    i.effective_end, i.currency, i.unit_price, i.erp_price
FROM price_staging i
FULL JOIN (SELECT * FROM catalog_prices WHERE market = ANY($1::text[])) p ON {same_price_key("p", "i")}
WHERE p.offer_id IS NULL
   OR (i.offer_id IS NULL AND p.removed_run_id IS NULL AND p.effective_end >= $2)
   OR (i.offer_id IS NOT NULL AND (p.currency, p.unit_price, p.erp_price, p.effective_end, p.removed_run_id)
       IS DISTINCT FROM (i.currency, i.unit_price, i.erp_price, i.effective_end, NULL))
"""
CHANGE_PRICES_SQL = f"""
UPDATE catalog_prices p SET currency = d.currency, unit_price = d.unit_price, erp_price = d.erp_price,
    effective_end = d.effective_end, changed_run_id = $1, removed_run_id = NULL
FROM price_diff d WHERE d.kind = 'changed' AND {same_price_key("p", "d")}
"""
REMOVE_PRICES_SQL = f"""
UPDATE catalog_prices p SET removed_run_id = $1 FROM price_diff d WHERE d.kind = 'gone' AND {same_price_key("p", "d")}
"""


def _count(status: str) -> int:
    return int(status.rsplit(maxsplit=1)[-1])


async def merge_prices(run_id: int, markets: list[str]) -> dict[str, int]:
    """Inside `staging()`: the staged rows merged into catalog_prices, and what the synced markets no longer
    list marked removed. Set-based: hash joins over the run's rows, not a probe per row."""
    month_start = clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    stored = await db.fetchval("SELECT EXISTS (SELECT 1 FROM catalog_prices WHERE market = ANY($1::text[]))", markets)
    if not stored:  # the markets' first sync: every row is new, there is nothing to compare with
        inserted = await db.execute(INSERT_PRICES_SQL.format(source="price_staging"), run_id)
        return {"prices_new": _count(inserted), "prices_changed": 0, "prices_removed": 0}
    await db.execute("ANALYZE price_staging")  # temporary tables have no statistics until asked: hash joins need them
    await db.execute(DIFF_SQL, markets, month_start)
    changed = _count(await db.execute(CHANGE_PRICES_SQL, run_id))
    new = _count(await db.execute(INSERT_PRICES_SQL.format(source="price_diff WHERE kind = 'new'"), run_id))
    removed = _count(await db.execute(REMOVE_PRICES_SQL, run_id))
    return {"prices_new": new, "prices_changed": changed, "prices_removed": removed}


async def merge(run_id: int, offers: list[dict], markets: list[str], promotions: list[dict]) -> dict[str, int]:
    """Inside `staging()`: offers, prices and promotions merged, what left the catalog marked."""
    offer_counts = (await db.fetch(MERGE_OFFERS_SQL, run_id, json.dumps(offers)))[0]
    discontinued = await db.execute(
        "UPDATE catalog_offers SET status = 'discontinued', discontinued_at = $2, changed_run_id = $1 "
        "WHERE status = 'active' AND NOT (id = ANY($3::text[]))",
        run_id,
        clock.now(),
        [o["id"] for o in offers],
    )
    prices = await merge_prices(run_id, markets)
    await db.execute(MERGE_PROMOTIONS_SQL, run_id, json.dumps(promotions), markets)
    return {
        "promotions": len(promotions),
        "offers_new": offer_counts["new"],
        "offers_changed": offer_counts["changed"],
        "offers_discontinued": _count(discontinued),
        **prices,
    }


# --- Runs -----------------------------------------------------------------------------------------------------


async def request_sync(actor: Principal | None) -> dict:
    """Queue a sync, or return the one already queued or running (only one at a time). `actor` None: the
    scheduler's own sync."""
    if actor is not None and actor.role != "csp_admin":
        raise Forbidden("Only the CSP's admins sync the catalog.")
    async with db.transaction():
        await db.execute("LOCK TABLE catalog_sync_runs IN SHARE ROW EXCLUSIVE MODE")
        active = await db.fetch("SELECT * FROM catalog_sync_runs WHERE status IN ('queued', 'running')")
        if active:
            return active[0]
        run = (
            await db.fetch(
                "INSERT INTO catalog_sync_runs (requested_by, created_at) VALUES ($1, $2) RETURNING *",
                actor.user_id if actor else None,
                clock.now(),
            )
        )[0]
        operation = await operations.create(JOB, actor, subject_id=str(run["id"]))
        await db.execute("UPDATE catalog_sync_runs SET operation_id = $2 WHERE id = $1", run["id"], operation["id"])
        run["operation_id"] = operation["id"]
        await queue.enqueue(JOB, {"run_id": run["id"]}, dedupe_key=f"{JOB}:{run['id']}")
        if actor:
            await audit.record(actor, "catalog", str(run["id"]), "sync_requested")
    return run


async def _progress(run_id: int, step: str, done: int, total: int) -> None:
    await db.execute_outside(
        "UPDATE catalog_sync_runs SET step = $2, done = $3, total = $4 WHERE id = $1", run_id, step, done, total
    )


async def run(run_id: int, client: PartnerCenterClient) -> dict:
    """Do one sync run; a failure is recorded on the run (the admin page shows it) and re-raised."""
    rows = await db.fetch("SELECT status, operation_id FROM catalog_sync_runs WHERE id = $1", run_id)
    if not rows or rows[0]["status"] in ("completed", "failed"):
        return {}  # a job delivered again after its run finished does nothing
    operation_id = rows[0]["operation_id"]
    settings_row = (await db.fetch("SELECT markets FROM catalog_settings WHERE id = 1"))[0]
    markets = list(settings_row["markets"])
    total = 2 + len(markets) * len(TIMELINES)
    await db.execute(
        "UPDATE catalog_sync_runs SET status = 'running', started_at = $2, error = NULL WHERE id = $1",
        run_id,
        clock.now(),
    )
    await operations.set_status(operation_id, "running")
    try:
        await _progress(run_id, "Offers", 0, total)
        offers = await fetch_offers(client, markets[0])
        promotions = await fetch_promotions(client, markets)
        done = 1
        staged = 0
        async with staging():
            for market in markets:
                for timeline in TIMELINES:
                    await _progress(run_id, f"Price sheet {market} ({timeline})", done, total)
                    sheet = client.price_sheet_bytes(market, timeline=timeline)
                    staged += await load_price_sheet(sheet, skip_staged=timeline != TIMELINES[0])
                    done += 1
            await _progress(run_id, "Merging", done, total)
            counts = await merge(run_id, offers, markets, promotions)
        counts |= {"offers": len(offers), "price_rows_read": staged}
    except Exception as exc:
        log.exception("catalog sync %s failed", run_id)
        await _fail(run_id, exc)
        raise
    await db.execute(
        "UPDATE catalog_sync_runs SET status = 'completed', counts = $2, step = 'Done', done = total, "
        "finished_at = $3 WHERE id = $1",
        run_id,
        json.dumps(counts),
        clock.now(),
    )
    await operations.set_status(operation_id, "succeeded")
    return counts


async def _fail(run_id: int, exc: Exception) -> None:
    error = str(exc)[:2000] or type(exc).__name__
    rows = await db.fetch(
        "UPDATE catalog_sync_runs SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1 "
        "RETURNING operation_id",
        run_id,
        error,
        clock.now(),
    )
    await operations.set_status(rows[0]["operation_id"] if rows else None, "failed", error)


async def run_job(payload: dict, settings: Settings) -> None:
    """The queued sync. Partner Center faults are retried inside the client; a run that still fails is
    recorded with its error for the admin, who starts another one: the queue does not retry it."""
    run_id = int(payload["run_id"])
    try:
        client = await sync_client(settings)
    except Exception as exc:
        await _fail(run_id, exc)
        return
    try:
        await run(run_id, client)
    except Exception:
        return
    finally:
        await client.aclose()


HANDLERS = {JOB: run_job}


async def due(now: datetime) -> dict | None:
    """Monthly: Microsoft publishes prices on the 1st, so a sync is due when none has completed (or is under way)
    since the start of this month. Safe to call from every process: request_sync queues at most one."""
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    recent = await db.fetchval(
        "SELECT 1 FROM catalog_sync_runs WHERE status IN ('queued', 'running') "
        "OR (status = 'completed' AND created_at >= $1) LIMIT 1",
        month_start,
    )
    if recent or not await db.fetchval("SELECT 1 FROM partner_center_connection"):
        return None  # done this month, or nobody has connected Partner Center yet
    return await request_sync(None)
