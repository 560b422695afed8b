"""The CSP's Partner Center connection and the sign-ins in progress. DDL: migrations/m0003.

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from piccolo.columns import JSONB, ForeignKey, SmallInt, Text
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import User
from app.columns import timestamp


class PartnerCenterConnection(Table, tablename="partner_center_connection"):
    id = SmallInt(primary_key=True, default=1)
    user_name = Text(default=None)
    tenant_id = Text(default=None)
    refresh_token_enc = Text(default=None)
    connected_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="connected_by")
    connected_at = timestamp()


class PartnerCenterAuthFlow(Table, tablename="partner_center_auth_flows"):
    state = Text(primary_key=True, default=None)
    flow = JSONB(default=None)
    user_id = ForeignKey(User, null=False, on_delete=OnDelete.cascade, db_column_name="user_id")
    created_at = timestamp()
