"""The catalog: sync runs, offers, prices, promotions, FX rates, margin rules and the catalog's settings.
DDL: migrations/m0005, m0006, m0007, m0017.

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    SmallInt,
    Text,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import Account, User
from app.columns import timestamp
from app.operations.tables import Operation


class CatalogSettings(Table, tablename="catalog_settings"):
    id = SmallInt(primary_key=True, default=1)
    markets = Array(Text(), default=None)
    currencies = Array(Text(), default=None)
    default_margin_kind = Text(default="discount_off_erp")
    default_margin_percent = Numeric(digits=(9, 4), default=Decimal(0))
    updated_at = timestamp()


class CatalogSyncRun(Table, tablename="catalog_sync_runs"):
    id = BigSerial(primary_key=True)
    status = Text(default="queued")
    step = Text(default="")
    done = Integer(default=0)
    total = Integer(default=0)
    counts = JSONB(default="{}")
    error = Text(null=True, default=None)
    requested_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="requested_by")
    created_at = timestamp()
    started_at = timestamp(null=True)
    finished_at = timestamp(null=True)
    operation_id = ForeignKey(Operation, null=True, on_delete=OnDelete.no_action, db_column_name="operation_id")


class CatalogOffer(Table, tablename="catalog_offers"):
    generated_columns: ClassVar[tuple[str, ...]] = ("search",)
    id = Text(primary_key=True, default=None)
    product_id = Text(default=None)
    sku_id = Varchar(length=4, default=None)
    title = Text(default=None)
    product_title = Text(default=None)
    description = Text(default="")
    publisher = Text(default=None)
    kind = Text(default=None)
    segment = Text(default=None)
    is_addon = Boolean(default=False)
    prerequisites = Array(Text(), default=list)
    upgrade_targets = Array(Text(), default=list)
    min_quantity = Integer(default=None)
    max_quantity = Integer(default=None)
    tenant_max = Integer(null=True, default=None)
    requires_attestation = Boolean(default=False)
    provisioning_id = Text(default="")
    availability_id = Text(default="")
    status = Text(default="active")
    fingerprint = Text(default=None)
    first_run_id = ForeignKey(CatalogSyncRun, null=False, on_delete=OnDelete.no_action, db_column_name="first_run_id")
    changed_run_id = ForeignKey(
        CatalogSyncRun, null=False, on_delete=OnDelete.no_action, db_column_name="changed_run_id"
    )
    discontinued_at = timestamp(null=True)
    # PostgreSQL computes `search` (a tsvector): no Piccolo column, since an insert may not write it


class CatalogPrice(Table, tablename="catalog_prices"):
    # the real key: Piccolo knows one key column, so write these rows by the whole key, never with save()
    table_key: ClassVar[tuple[str, ...]] = ("offer_id", "term", "billing_plan", "market", "segment", "effective_start")
    offer_id = Text(primary_key=True, default=None)
    term = Text(default=None)
    billing_plan = Text(default=None)
    market = Varchar(length=2, default=None)
    segment = Text(default=None)
    effective_start = timestamp()
    effective_end = timestamp()
    currency = Varchar(length=3, default=None)
    unit_price = Numeric(digits=(18, 4), default=None)
    erp_price = Numeric(digits=(18, 4), default=None)
    first_run_id = BigInt(default=None)
    changed_run_id = BigInt(default=None)
    removed_run_id = BigInt(null=True, default=None)


class CatalogPromotion(Table, tablename="catalog_promotions"):
    # the real key: Piccolo knows one key column, so write these rows by the whole key, never with save()
    table_key: ClassVar[tuple[str, ...]] = ("id", "market")
    id = Text(primary_key=True, default=None)
    market = Varchar(length=2, default=None)
    name = Text(default=None)
    description = Text(default="")
    starts_at = timestamp()
    ends_at = timestamp()
    auto_applicable = Boolean(default=None)
    products = JSONB(default=None)
    min_seats = Integer(null=True, default=None)
    max_seats = Integer(null=True, default=None)
    first_purchase_only = Boolean(default=False)
    run_id = ForeignKey(CatalogSyncRun, null=False, on_delete=OnDelete.no_action, db_column_name="run_id")


class FxRate(Table, tablename="fx_rates"):
    # the real key: Piccolo knows one key column, so write these rows by the whole key, never with save()
    table_key: ClassVar[tuple[str, ...]] = ("from_currency", "to_currency", "effective_from")
    from_currency = Varchar(length=3, primary_key=True, default=None)
    to_currency = Varchar(length=3, default=None)
    effective_from = Date(default=None)
    rate = Numeric(digits=(18, 8), default=None)
    created_at = timestamp()


class MarginRule(Table, tablename="margin_rules"):
    id = UUID(primary_key=True)
    scope = Text(default=None)
    account_id = ForeignKey(Account, null=True, on_delete=OnDelete.cascade, db_column_name="account_id")
    offer_id = Text(null=True, default=None)
    kind = Text(default=None)
    percent = Numeric(digits=(9, 4), default=None)
    allow_below_cost = Boolean(default=False)
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="created_by")
    created_at = timestamp()
    owner = ForeignKey(Account, null=True, on_delete=OnDelete.cascade, db_column_name="owner")
