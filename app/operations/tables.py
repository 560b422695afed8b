"""Operations: long-running work (orders, syncs) a user can follow. DDL: migrations/m0006.

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, Text
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import Account, User
from app.columns import timestamp


class Operation(Table, tablename="operations"):
    id = UUID(primary_key=True)
    kind = Text(default=None)
    status = Text(default="queued")
    error = Text(null=True, default=None)
    account_id = ForeignKey(Account, null=True, on_delete=OnDelete.no_action, db_column_name="account_id")
    subject_id = Text(null=True, default=None)
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.no_action, db_column_name="created_by")
    created_at = timestamp()
    updated_at = timestamp()
