"""Accounts, their users and MCA acceptances. The DDL is in migrations/ (m0001, m0005, m0009, m0013, m0015);
tests/integration/test_tables.py keeps these classes and the migrated tables in step."""

from __future__ import annotations

from decimal import Decimal

from piccolo.columns import (
    UUID,
    Array,
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

from app.columns import timestamp


class Account(Table, tablename="accounts"):
    id = UUID(primary_key=True)
    kind = Text()
    parent_id: ForeignKey[Account] = ForeignKey(
        "self", null=True, on_delete=OnDelete.no_action, db_column_name="parent_id"
    )
    name = Text()
    email = Text()
    phone = Text(default="")
    country = Varchar(length=2)
    currency = Varchar(length=3)
    address_line1 = Text(default="")
    address_line2 = Text(default="")
    city = Text(default="")
    state = Text(default="")
    postal_code = Text(default="")
    tenant_id = UUID(null=True, default=None)
    tenant_domain = Text(null=True, default=None)
    mpn_id = Text(null=True, default=None)
    qualification = Text(default="commercial")
    status = Text(default="active")
    credit_limit = Numeric(digits=(18, 4), null=True, default=None)
    billing_plans = Array(Text(), null=True, default=None)  # None: every plan
    payment_hold = Boolean(default=False)
    tenant_origin = Text(null=True, default=None)  # created | existing
    gdap_relationship_id = Text(null=True, default=None)
    gdap_status = Text(null=True, default=None)
    qualification_request = Text(null=True, default=None)  # education | government, asked at Partner Center
    qualification_status = Text(null=True, default=None)  # Microsoft's vettingStatus
    qualification_requested_at = timestamp(null=True)
    health_checked_on = Date(null=True, default=None)  # the day the health check last compared it with Partner Center
    # billing (m0005, m0015): NULL terms and non-payment rules mean the CSP's defaults
    monthly_surcharge_percent = Numeric(digits=(9, 4), default=Decimal(0))
    tax_id = Text(default="")
    billing_day = SmallInt(default=1)
    payment_terms_days = Integer(null=True, default=None)
    reminder_days = Array(Integer(), null=True, default=None)
    suspend_after_days = Integer(null=True, default=None)
    auto_pay = Boolean(default=True)
    hold_reason = Text(default="")
    created_at = timestamp()
    updated_at = timestamp()


class User(Table, tablename="users"):
    id = UUID(primary_key=True)
    email = Text()
    name = Text()
    password_hash = Text(null=True, default=None)
    role = Text()
    account_id = ForeignKey(Account, null=True, on_delete=OnDelete.no_action, db_column_name="account_id")
    is_active = Boolean(default=True)
    created_at = timestamp()
    last_login_at = timestamp(null=True)


class McaAcceptance(Table, tablename="mca_acceptances"):
    id = UUID(primary_key=True)
    account_id = ForeignKey(Account, null=False, on_delete=OnDelete.no_action, db_column_name="account_id")
    first_name = Text()
    last_name = Text()
    email = Text()
    phone = Text(default="")
    accepted_at = timestamp()
    method = Text()
    recorded_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="recorded_by")
    sent_at = timestamp(null=True)  # attested at Partner Center
    created_at = timestamp()
