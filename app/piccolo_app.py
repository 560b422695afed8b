"""Piccolo's app config: where the migrations live and which tables the app has."""

from __future__ import annotations

from piccolo.conf.apps import AppConfig, table_finder

from app.config import ROOT

# One module per domain, each holding the classes of the tables it owns. The Partner Center sandbox's store is
# registered here too: its DDL is part of this app's migrations, and Piccolo ties tables to one migrations folder.
TABLE_MODULES = [
    "app.accounts.tables",
    "app.auth.tables",
    "app.audit.tables",
    "app.mail.tables",
    "app.operations.tables",
    "app.catalog.tables",
    "app.orders.tables",
    "app.subscriptions.tables",
    "app.billing.tables",
    "app.jobs.tables",
    "app.partner_center.tables",
    "app.partner_center.sandbox.tables",
]

APP_CONFIG = AppConfig(
    app_name="cloudseat",
    migrations_folder_path=str(ROOT / "migrations"),
    # exclude_imported: a module that imports another's class (for a foreign key) does not register it twice
    table_classes=table_finder(TABLE_MODULES, exclude_imported=True),
    migration_dependencies=[],
    commands=[],
)
