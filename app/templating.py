"""Jinja filters the pages share: money, dates, and labels in the CSP's words."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from babel.dates import format_datetime
from litestar.plugins.jinja import JinjaTemplateEngine

from app.accounts.address_rules import country_name
from app.accounts.rules import ROLE_LABELS
from app.money import Money


def money(amount: Decimal | None, currency: str) -> str:
    return "" if amount is None else Money(Decimal(amount), currency).display()


def when(value: datetime | None) -> str:
    return "" if value is None else format_datetime(value, "d MMM y, HH:mm", tzinfo=UTC, locale="en") + " UTC"


def configure(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(money=money, when=when, country=country_name)
    env.globals.update(role_label=ROLE_LABELS.get)
    env.autoescape = True
