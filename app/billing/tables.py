"""Billing: the charge ledger, runs, invoices and their lines, payments, dunning, credit holds, tax rates,
the document series and the sandbox card gateway's own store. DDL: migrations/m0008, m0015, m0016.

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
from app.subscriptions.tables import Subscription


class Charge(Table, tablename="charges"):
    id = BigSerial(primary_key=True)
    subscription_id = ForeignKey(
        Subscription, null=False, on_delete=OnDelete.no_action, db_column_name="subscription_id"
    )
    account_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="account_id")
    charge_type = Text(default=None)
    reason = Text(default=None)
    quantity = Integer(default=None)
    period_start = Date(default=None)
    period_end = Date(default=None)
    per_seat_amount = Numeric(digits=(18, 4), default=None)
    amount = Numeric(digits=(18, 4), default=None)
    currency = Varchar(length=3, default=None)
    cost_per_seat = Numeric(digits=(18, 4), default=None)
    cost_amount = Numeric(digits=(18, 4), default=None)
    cost_currency = Varchar(length=3, default=None)
    invoice_id = UUID(null=True, default=None)
    created_at = timestamp()
    posted_on = Date(default=None)
    fx_rate = Numeric(digits=(18, 8), null=True, default=None)
    source_currency = Varchar(length=3, null=True, default=None)
    source_per_seat = Numeric(digits=(18, 4), null=True, default=None)
    source_amount = Numeric(digits=(18, 4), null=True, default=None)


class BillingSettings(Table, tablename="billing_settings"):
    id = SmallInt(primary_key=True, default=1)
    seller_name = Text(default="")
    seller_address = Text(default="")
    seller_country = Varchar(length=2, default="US")
    seller_tax_id = Text(default="")
    payment_instructions = Text(default="")
    payment_terms_days = Integer(default=14)
    reminder_days = Array(Integer(), default=lambda: [1, 7])
    suspend_after_days = Integer(default=14)
    updated_at = timestamp(null=True)


class TaxRate(Table, tablename="tax_rates"):
    country = Varchar(length=2, primary_key=True, default=None)
    label = Text(default=None)
    rate = Numeric(digits=(7, 4), default=None)
    reverse_charge = Boolean(default=False)
    updated_at = timestamp()


class DocumentSeries(Table, tablename="document_series"):
    series = Text(primary_key=True, default=None)
    last_number = Integer(default=None)


class BillingRun(Table, tablename="billing_runs"):
    id = UUID(primary_key=True)
    as_of = Date(default=None)
    issue_date = Date(default=None)
    billing_day = SmallInt(null=True, default=None)
    account_id = ForeignKey(Account, null=True, on_delete=OnDelete.no_action, db_column_name="account_id")
    status = Text(default=None)
    invoices = Integer(default=0)
    credit_notes = Integer(default=0)
    error = Text(null=True, default=None)
    requested_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="requested_by")
    created_at = timestamp()
    started_at = timestamp(null=True)
    finished_at = timestamp(null=True)


class Invoice(Table, tablename="invoices"):
    id = UUID(primary_key=True)
    kind = Text(default=None)
    number = Text(unique=True, default=None)
    run_id = ForeignKey(BillingRun, null=True, on_delete=OnDelete.no_action, db_column_name="run_id")
    account_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="account_id")
    currency = Varchar(length=3, default=None)
    issue_date = Date(default=None)
    due_date = Date(default=None)
    buyer = JSONB(default=None)
    seller = JSONB(default=None)
    subtotal = Numeric(digits=(18, 4), default=None)
    tax_label = Text(default=None)
    tax_rate = Numeric(digits=(7, 4), default=None)
    reverse_charge = Boolean(default=None)
    tax = Numeric(digits=(18, 4), default=None)
    total = Numeric(digits=(18, 4), default=None)
    lines_count = Integer(default=None)
    amount_paid = Numeric(digits=(18, 4), default=Decimal(0))
    status = Text(default=None)
    paid_at = timestamp(null=True)
    created_at = timestamp()


class InvoiceLine(Table, tablename="invoice_lines"):
    # the real key: Piccolo knows one key column, so write these rows by the whole key, never with save()
    table_key: ClassVar[tuple[str, ...]] = ("invoice_id", "charge_id")
    invoice_id = ForeignKey(
        Invoice, primary_key=True, null=False, on_delete=OnDelete.no_action, db_column_name="invoice_id"
    )
    charge_id = BigInt(default=None)
    subscription_id = UUID(default=None)
    customer_name = Text(default=None)
    description = Text(default=None)
    charge_type = Text(default=None)
    quantity = Integer(default=None)
    unit_price = Numeric(digits=(18, 4), default=None)
    period_start = Date(default=None)
    period_end = Date(default=None)
    amount = Numeric(digits=(18, 4), default=None)
    fx_rate = Numeric(digits=(18, 8), null=True, default=None)
    source_currency = Varchar(length=3, null=True, default=None)
    source_amount = Numeric(digits=(18, 4), null=True, default=None)


class PaymentMethod(Table, tablename="payment_methods"):
    id = UUID(primary_key=True)
    account_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="account_id")
    gateway = Text(default=None)
    gateway_ref = Text(default=None)
    brand = Text(default=None)
    last4 = Varchar(length=4, default=None)
    exp_month = SmallInt(default=None)
    exp_year = SmallInt(default=None)
    is_default = Boolean(default=False)
    created_at = timestamp()
    removed_at = timestamp(null=True)


class Payment(Table, tablename="payments"):
    id = UUID(primary_key=True)
    invoice_id = ForeignKey(Invoice, null=False, on_delete=OnDelete.no_action, db_column_name="invoice_id")
    account_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="account_id")
    amount = Numeric(digits=(18, 4), default=None)
    currency = Varchar(length=3, default=None)
    method = Text(default=None)
    reference = Text(default="")
    status = Text(default=None)
    automatic = Boolean(default=False)
    attempt = SmallInt(default=1)
    payment_method_id = ForeignKey(
        PaymentMethod, null=True, on_delete=OnDelete.no_action, db_column_name="payment_method_id"
    )
    gateway = Text(null=True, default=None)
    gateway_ref = Text(null=True, default=None)
    error = Text(null=True, default=None)
    received_on = Date(default=None)
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="created_by")
    created_at = timestamp()
    settled_at = timestamp(null=True)


class DunningStep(Table, tablename="dunning_steps"):
    # the real key: Piccolo knows one key column, so write these rows by the whole key, never with save()
    table_key: ClassVar[tuple[str, ...]] = ("invoice_id", "anchor", "step")
    invoice_id = ForeignKey(
        Invoice, primary_key=True, null=False, on_delete=OnDelete.no_action, db_column_name="invoice_id"
    )
    anchor = Date(default=None)
    step = Text(default=None)
    taken_on = Date(default=None)


class CreditHold(Table, tablename="credit_holds"):
    operation_id = ForeignKey(
        Operation, primary_key=True, null=False, on_delete=OnDelete.no_action, db_column_name="operation_id"
    )
    account_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="account_id")
    amount = Numeric(digits=(18, 4), default=None)
    currency = Varchar(length=3, default=None)
    created_at = timestamp()


# The sandbox card gateway's own store (app/billing/gateways.py: it stands for the card processor in sandbox mode).
# Its column `ref` is the attribute `ref_`: `ref` would hide Piccolo's Table.ref.


class SandboxGatewayCard(Table, tablename="sandbox_gateway_cards"):
    ref_ = Text(primary_key=True, db_column_name="ref", default=None)
    last4 = Varchar(length=4, default=None)
    brand = Text(default=None)
    number_hash = Text(default=None)
    created_at = timestamp()


class SandboxGatewayCharge(Table, tablename="sandbox_gateway_charges"):
    idempotency_key = Text(primary_key=True, default=None)
    ref_ = Text(unique=True, db_column_name="ref", default=None)
    card_ref = Text(default=None)
    amount = Numeric(digits=(18, 4), default=None)
    currency = Varchar(length=3, default=None)
    status = Text(default=None)
    decline_code = Text(null=True, default=None)
    created_at = timestamp()
