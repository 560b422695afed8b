"""Subscriptions, their seat batches (one cancellation window each) and the drifts the health check finds.
DDL: migrations/m0008, m0010 to m0013.

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from typing import ClassVar

from piccolo.columns import (
    JSONB,
    UUID,
    BigSerial,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    Text,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import Account
from app.columns import timestamp
from app.orders.tables import OrderLine


class Subscription(Table, tablename="subscriptions"):
    id = UUID(primary_key=True)
    customer_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    bill_to_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="bill_to_id")
    order_line_id = ForeignKey(
        OrderLine, unique=True, null=True, on_delete=OnDelete.no_action, db_column_name="order_line_id"
    )
    offer_id = Text(default=None)
    title = Text(default=None)
    partner_center_id = Text(unique=True, null=True, default=None)
    pc_order_id = Text(null=True, default=None)
    status = Text(default=None)
    quantity = Integer(default=None)
    term = Text(default=None)
    billing_plan = Text(default=None)
    start_date = Date(null=True, default=None)
    end_date = Date(null=True, default=None)
    auto_renew = Boolean(default=None)
    is_trial = Boolean(default=False)
    currency = Varchar(length=3, default=None)
    unit_price = Numeric(digits=(18, 4), default=None)
    customer_unit_price = Numeric(digits=(18, 4), default=None)
    cost_price = Numeric(digits=(18, 4), default=None)
    cost_currency = Varchar(length=3, default=None)
    promotion_id = Text(null=True, default=None)
    created_at = timestamp()
    updated_at = timestamp()
    cancellation_window_ends_at = timestamp(null=True)
    scheduled_change = JSONB(null=True, default=None)
    status_changed_at = timestamp(null=True)
    term_checked_at = timestamp(null=True)
    billed_from = Date(null=True, default=None)
    suspended_for_nonpayment = Boolean(default=False)


class SubscriptionSeatBatch(Table, tablename="subscription_seat_batches"):
    # the table has no key; Piccolo needs one column to call its key, so never save() or remove() these rows
    table_key: ClassVar[tuple[str, ...]] = ()
    subscription_id = ForeignKey(
        Subscription, primary_key=True, null=False, on_delete=OnDelete.no_action, db_column_name="subscription_id"
    )
    quantity = Integer(default=None)
    window_ends_at = timestamp()
    created_at = timestamp()


class SubscriptionDrift(Table, tablename="subscription_drifts"):
    id = BigSerial(primary_key=True)
    customer_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    subscription_id = ForeignKey(
        Subscription, null=True, on_delete=OnDelete.no_action, db_column_name="subscription_id"
    )
    partner_center_id = Text(default=None)
    field = Text(default=None)
    ours = Text(null=True, default=None)
    microsoft = Text(null=True, default=None)
    found_at = timestamp()
    seen_at = timestamp()
    resolved_at = timestamp(null=True)
    resolution = Text(null=True, default=None)
    resolved_by = Text(null=True, default=None)
