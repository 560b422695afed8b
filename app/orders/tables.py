"""Baskets and orders with their lines. DDL: migrations/m0008 (and later columns in m0011, m0016).

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from piccolo.columns import UUID, BigSerial, Date, ForeignKey, Integer, Numeric, Text, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import Account, User
from app.columns import timestamp
from app.operations.tables import Operation


class Basket(Table, tablename="baskets"):
    user_id = ForeignKey(User, primary_key=True, null=False, on_delete=OnDelete.cascade, db_column_name="user_id")
    customer_id = ForeignKey(Account, null=True, on_delete=OnDelete.no_action, db_column_name="customer_id")
    updated_at = timestamp()


class BasketLine(Table, tablename="basket_lines"):
    id = UUID(primary_key=True)
    # by name: Basket's key is itself a foreign key, which Piccolo resolves only lazily
    user_id: ForeignKey[Basket] = ForeignKey("Basket", null=False, on_delete=OnDelete.cascade, db_column_name="user_id")
    offer_id = Text(default=None)
    quantity = Integer(default=None)
    term = Text(default=None)
    billing_plan = Text(default=None)
    coterm_end_date = Date(null=True, default=None)
    added_at = timestamp()


class Order(Table, tablename="orders"):
    id = UUID(primary_key=True)
    number = BigSerial(unique=True)
    customer_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    bill_to_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="bill_to_id")
    reseller_id = ForeignKey(Account, null=True, on_delete=OnDelete.no_action, db_column_name="reseller_id")
    placed_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="placed_by")
    status = Text(default=None)
    currency = Varchar(length=3, default=None)
    operation_id = ForeignKey(Operation, null=True, on_delete=OnDelete.no_action, db_column_name="operation_id")
    created_at = timestamp()
    updated_at = timestamp()
    completed_at = timestamp(null=True)


class OrderLine(Table, tablename="order_lines"):
    id = UUID(primary_key=True)
    order_id = ForeignKey(Order, null=False, on_delete=OnDelete.no_action, db_column_name="order_id")
    line_no = Integer(default=None)
    offer_id = Text(default=None)
    title = Text(default=None)
    quantity = Integer(default=None)
    term = Text(default=None)
    billing_plan = Text(default=None)
    coterm_end_date = Date(null=True, default=None)
    currency = Varchar(length=3, default=None)
    unit_price = Numeric(digits=(18, 4), default=None)
    customer_unit_price = Numeric(digits=(18, 4), default=None)
    cost_price = Numeric(digits=(18, 4), default=None)
    cost_currency = Varchar(length=3, default=None)
    promotion_id = Text(null=True, default=None)
    first_charge = Numeric(digits=(18, 4), default=None)
    customer_first_charge = Numeric(digits=(18, 4), default=None)
    reserved = Numeric(digits=(18, 4), default=None)
    wave = Integer(default=0)
    status = Text(default="pending")
    error = Text(null=True, default=None)
    pc_order_id = Text(null=True, default=None)
    pc_line_no = Integer(null=True, default=None)
    subscription_id = UUID(null=True, default=None)
    released_at = timestamp(null=True)
    fx_rate = Numeric(digits=(18, 8), null=True, default=None)
    source_currency = Varchar(length=3, default=None)
    source_unit_price = Numeric(digits=(18, 4), default=None)
    source_first_charge = Numeric(digits=(18, 4), default=None)
