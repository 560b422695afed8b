"""The Partner Center sandbox's own store (pcs_*). DDL: migrations/m0002, m0004.

The sandbox stands for Microsoft, an independent implementation: this module imports piccolo only, never
anything of the app's domains.

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from piccolo.columns import (
    JSONB,
    UUID,
    BigSerial,
    Boolean,
    Bytea,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table


def _ts(null: bool = False) -> Timestamptz:
    # times always come from the code that writes the row, never from a column default
    return Timestamptz(null=null, default=None)


class PcsState(Table, tablename="pcs_state"):
    id = SmallInt(primary_key=True, default=1)
    partner_tenant_id = UUID(default=None)
    price_change_date = Date(default=None)
    created_at = _ts()


class PcsFaults(Table, tablename="pcs_faults"):
    id = SmallInt(primary_key=True, default=1)
    error_rate = Numeric(default=Decimal(0))
    throttle_rate = Numeric(default=Decimal(0))
    latency_ms = Integer(default=0)
    provisioning_ms = Integer(default=2000)


class PcsRequest(Table, tablename="pcs_requests"):
    request_id = Text(primary_key=True, default=None)
    method = Text(default=None)
    path = Text(default=None)
    status = Integer(default=None)
    body = Bytea(default=None)
    created_at = _ts()


class PcsApp(Table, tablename="pcs_apps"):
    client_id = Text(primary_key=True, default=None)
    secret_hash = Text(default=None)
    name = Text(default=None)
    redirect_uris = JSONB(default="[]")


class PcsAuthCode(Table, tablename="pcs_auth_codes"):
    code_hash = Text(primary_key=True, default=None)
    client_id = Text(default=None)
    redirect_uri = Text(default=None)
    code_challenge = Text(null=True, default=None)
    nonce = Text(null=True, default=None)
    user_name = Text(default=None)
    mfa = Boolean(default=None)
    scope = Text(default=None)
    expires_at = _ts()
    used_at = _ts(null=True)


class PcsRefreshToken(Table, tablename="pcs_refresh_tokens"):
    token_hash = Text(primary_key=True, default=None)
    client_id = Text(default=None)
    user_name = Text(default=None)
    mfa = Boolean(default=None)
    created_at = _ts()
    revoked_at = _ts(null=True)


class PcsCustomer(Table, tablename="pcs_customers"):
    id = UUID(primary_key=True)
    domain = Text(default=None)
    company_name = Text(default=None)
    country = Varchar(length=2, default=None)
    currency = Varchar(length=3, default=None)
    reseller_mpn_id = Text(null=True, default=None)
    relationship = Text(default="reseller")
    gdap = Boolean(default=True)
    data = JSONB(default=None)
    created_at = _ts()


class PcsAgreement(Table, tablename="pcs_agreements"):
    id = BigSerial(primary_key=True)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    data = JSONB(default=None)
    created_at = _ts()


class PcsQualification(Table, tablename="pcs_qualifications"):
    # the real key: Piccolo knows one key column, so write these rows by the whole key, never with save()
    table_key: ClassVar[tuple[str, ...]] = ("customer_id", "qualification")
    customer_id = ForeignKey(
        PcsCustomer, primary_key=True, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id"
    )
    qualification = Text(default=None)
    vetting_status = Text(default=None)
    data = JSONB(default=None)
    created_at = _ts()


class PcsCart(Table, tablename="pcs_carts"):
    id = UUID(primary_key=True)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    data = JSONB(default=None)
    checkout_result = JSONB(null=True, default=None)
    created_at = _ts()
    expires_at = _ts()


class PcsOrder(Table, tablename="pcs_orders"):
    id = Text(primary_key=True, default=None)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    data = JSONB(default=None)
    created_at = _ts()
    status = Text(default="completed")
    ready_at = _ts(null=True)


class PcsSubscription(Table, tablename="pcs_subscriptions"):
    id = UUID(primary_key=True)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    order_id = Text(null=True, default=None)
    product_id = Text(default=None)
    sku_id = Text(default=None)
    availability_id = Text(default=None)
    segment = Text(default=None)
    friendly_name = Text(default=None)
    quantity = Integer(default=None)
    status = Text(default=None)
    term_duration = Text(null=True, default=None)
    billing_cycle = Text(default=None)
    unit_price = Numeric(digits=(18, 4), default=None)
    currency = Varchar(length=3, default=None)
    start_date = Date(default=None)
    end_date = Date(null=True, default=None)
    auto_renew = Boolean(default=None)
    is_trial = Boolean(default=False)
    is_legacy = Boolean(default=False)
    parent_id = UUID(null=True, default=None)
    promotion_id = Text(null=True, default=None)
    partner_id = Text(default="")
    scheduled = JSONB(null=True, default=None)
    window_ends_at = _ts(null=True)
    status_changed_at = _ts()
    etag = Integer(default=1)
    created_at = _ts()
    legacy_offer_id = Text(null=True, default=None)
    migrated_from_id = UUID(null=True, default=None)


class PcsSeatBatch(Table, tablename="pcs_seat_batches"):
    id = BigSerial(primary_key=True)
    subscription_id = ForeignKey(
        PcsSubscription, null=False, on_delete=OnDelete.no_action, db_column_name="subscription_id"
    )
    quantity = Integer(default=None)
    allowed_until = _ts()


class PcsLineItem(Table, tablename="pcs_line_items"):
    id = BigSerial(primary_key=True)
    customer_id = UUID(default=None)
    subscription_id = UUID(default=None)
    order_id = Text(null=True, default=None)
    charge_type = Text(default=None)
    quantity = Integer(default=None)
    unit_price = Numeric(digits=(18, 4), default=None)
    effective_unit_price = Numeric(digits=(18, 4), default=None)
    subtotal = Numeric(digits=(18, 4), default=None)
    currency = Varchar(length=3, default=None)
    charge_start = Date(default=None)
    charge_end = Date(default=None)
    reference_id = Text(null=True, default=None)
    promotion_id = Text(null=True, default=None)
    invoice_id = Text(null=True, default=None)
    created_at = _ts()


class PcsInvoice(Table, tablename="pcs_invoices"):
    id = Text(primary_key=True, default=None)
    invoice_date = Date(default=None)
    period_start = Date(default=None)
    period_end = Date(default=None)
    currency = Varchar(length=3, default=None)
    total = Numeric(digits=(18, 2), default=None)
    created_at = _ts()


class PcsTransition(Table, tablename="pcs_transitions"):
    id = UUID(primary_key=True)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    from_subscription_id = ForeignKey(
        PcsSubscription, null=False, on_delete=OnDelete.no_action, db_column_name="from_subscription_id"
    )
    to_subscription_id = ForeignKey(
        PcsSubscription, null=False, on_delete=OnDelete.no_action, db_column_name="to_subscription_id"
    )
    data = JSONB(default=None)
    created_at = _ts()


class PcsMigration(Table, tablename="pcs_migrations"):
    id = UUID(primary_key=True)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    current_subscription_id = ForeignKey(
        PcsSubscription, null=False, on_delete=OnDelete.no_action, db_column_name="current_subscription_id"
    )
    new_subscription_id = ForeignKey(
        PcsSubscription, null=True, on_delete=OnDelete.no_action, db_column_name="new_subscription_id"
    )
    external_reference_id = Text(null=True, default=None)
    status = Text(default=None)
    data = JSONB(default=None)
    created_at = _ts()


class PcsUser(Table, tablename="pcs_users"):
    id = UUID(primary_key=True)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    user_principal_name = Text(default=None)
    data = JSONB(default=None)
    deleted_at = _ts(null=True)
    created_at = _ts()


class PcsUserLicense(Table, tablename="pcs_user_licenses"):
    # the real key: Piccolo knows one key column, so write these rows by the whole key, never with save()
    table_key: ClassVar[tuple[str, ...]] = ("user_id", "sku_id")
    user_id = ForeignKey(PcsUser, primary_key=True, null=False, on_delete=OnDelete.cascade, db_column_name="user_id")
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    sku_id = UUID(default=None)
    excluded_plans = JSONB(default="[]")
    assigned_at = _ts()


class PcsGdapRelationship(Table, tablename="pcs_gdap_relationships"):
    id = Text(primary_key=True, default=None)
    customer_id = ForeignKey(PcsCustomer, null=False, on_delete=OnDelete.no_action, db_column_name="customer_id")
    status = Text(default=None)
    data = JSONB(default=None)
    created_at = _ts()
    ends_at = _ts(null=True)
