"""Piccolo's app config: where the migrations live and which tables the app has."""

from __future__ import annotations

from piccolo.conf.apps import AppConfig

from app.accounts.tables import Account, McaAcceptance, User
from app.audit.tables import Event
from app.auth.tables import ApiToken, LoginAttempt, PasswordToken, Session
from app.config import ROOT
from app.mail.tables import OutboxMail


def _tables() -> list:
    return [Account, User, Session, ApiToken, PasswordToken, LoginAttempt, McaAcceptance, Event, OutboxMail]


APP_CONFIG = AppConfig(
    app_name="cloudseat",
    migrations_folder_path=str(ROOT / "migrations"),
    table_classes=_tables(),
    migration_dependencies=[],
    commands=[],
)
