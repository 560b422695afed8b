"""Test set-up: a real PostgreSQL (embedded, or TEST_DATABASE_URL), the real migrations once per run,
and per test either a rolled-back transaction (`tx`) or truncation (`committed`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app import db
from app.config import ROOT, Settings, load_settings
from piccolo_conf import DB

pytest_plugins = ["tests.integration.sandbox_fixtures"]

# one database per test run, so two runs (two terminals, an editor's runner) never share state
TEST_DB = f"cloudseat_test_{os.getpid()}"
APP_TABLES = [
    "accounts",
    "users",
    "sessions",
    "api_tokens",
    "password_tokens",
    "login_attempts",
    "mca_acceptances",
    "events",
    "mail_outbox",
    "pgqueuer",
    "pgqueuer_log",
    "catalog_sync_runs",
    "catalog_offers",
    "catalog_prices",
    "catalog_promotions",
    "fx_rates",
    "margin_rules",
    "operations",
    "partner_center_connection",
    "baskets",
    "basket_lines",
    "orders",
    "order_lines",
    "subscriptions",
    "charges",
    "subscription_seat_batches",
    "subscription_drifts",
    "scheduler_days",
    "tax_rates",
    "document_series",
    "billing_runs",
    "invoices",
    "invoice_lines",
    "payment_methods",
    "payments",
    "sandbox_gateway_cards",
    "sandbox_gateway_charges",
    "dunning_steps",
    "mail_attachments",
    "credit_holds",
]


def _database_url(tmp_root: Path) -> str:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        return given
    return db.embedded_server_url(ROOT / "var", TEST_DB)


async def _reset(url: str) -> None:
    """A fresh database for every run, so the migrations are tested from zero each time."""
    if os.environ.get("TEST_DATABASE_URL"):
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
        return
    admin = await asyncpg.connect(db.with_database(url, "postgres"))
    try:
        for row in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'cloudseat_test_%'"):
            pid = int(row["datname"].rsplit("_", 1)[1])
            if pid == os.getpid() or not db.process_alive(pid):  # left behind by a killed run
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEST_DB}"')
    finally:
        await admin.close()


async def _drop(url: str) -> None:
    if os.environ.get("TEST_DATABASE_URL"):
        return
    admin = await asyncpg.connect(db.with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """argon2 at its lowest cost: tests create hundreds of users; the algorithm stays the same."""
    from argon2 import PasswordHasher

    from app.auth import service

    service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": database_url,
            "CLOUDSEAT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
            "SECRET_KEY": "test-secret-key-" + "x" * 32,
            "CLOUDSEAT_BASE_URL": "http://testserver",
            "CLOUDSEAT_WORKER": "0",
        }
    )


@pytest.fixture(scope="session")
async def migrated(database_url: str) -> AsyncIterator[str]:
    await _reset(database_url)
    db.configure(database_url)
    await db.migrate()
    await db.open_pool(max_size=20)
    yield database_url
    await db.close_pool()
    await _drop(database_url)


@pytest.fixture(scope="session")
def app(settings: Settings, migrated: str):
    from app.main import create_app

    return create_app(settings, manage_pool=False)


@pytest.fixture
async def tx(migrated: str) -> AsyncIterator[None]:
    """Everything the test does runs in one transaction that is rolled back at the end."""
    transaction = DB.transaction()
    await transaction.__aenter__()
    try:
        yield
    finally:
        await transaction.rollback()
        await transaction.__aexit__(None, None, None)


@pytest.fixture
async def committed(migrated: str) -> AsyncIterator[None]:
    """For code that must really commit (jobs, concurrency, a served app): truncate afterwards."""
    await _clean()
    yield
    await _clean()


async def _clean() -> None:
    await db.execute(f"TRUNCATE {', '.join(APP_TABLES)} RESTART IDENTITY CASCADE")
    await db.execute(
        "UPDATE catalog_settings SET markets = '{US}', currencies = '{USD}', "
        "default_margin_kind = 'discount_off_erp', default_margin_percent = 0"
    )
    await db.execute("DELETE FROM billing_settings; INSERT INTO billing_settings (id) VALUES (1)")


@pytest.fixture
def client(app) -> httpx.AsyncClient:
    """An HTTP client calling the app in the test's own event loop (so it sees the test transaction)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def unique(prefix: str = "x") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"
