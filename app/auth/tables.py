"""What signs people in: sessions, API tokens, set-password links, login attempts."""

from __future__ import annotations

from piccolo.columns import UUID, BigSerial, Boolean, ForeignKey, Text
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import User
from app.columns import timestamp


class Session(Table, tablename="sessions"):
    token_hash = Text(primary_key=True)
    user_id = ForeignKey(User, null=False, on_delete=OnDelete.cascade, db_column_name="user_id")
    created_at = timestamp()
    expires_at = timestamp()
    ip = Text(default="")
    user_agent = Text(default="")


class ApiToken(Table, tablename="api_tokens"):
    id = UUID(primary_key=True)
    user_id = ForeignKey(User, null=False, on_delete=OnDelete.cascade, db_column_name="user_id")
    name = Text()
    token_hash = Text(unique=True)
    prefix = Text()
    created_at = timestamp()
    last_used_at = timestamp(null=True)
    revoked_at = timestamp(null=True)


class PasswordToken(Table, tablename="password_tokens"):
    token_hash = Text(primary_key=True)
    user_id = ForeignKey(User, null=False, on_delete=OnDelete.cascade, db_column_name="user_id")
    purpose = Text()
    created_at = timestamp()
    expires_at = timestamp()
    used_at = timestamp(null=True)


class LoginAttempt(Table, tablename="login_attempts"):
    id = BigSerial(primary_key=True)
    email = Text()
    ip = Text()
    at = timestamp()
    succeeded = Boolean()
