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


def plain(value: Decimal | None) -> str:
    """A number as people write it: 10, 0.95, 12.5 (no trailing zeros, no exponent)."""
    return "" if value is None else format(Decimal(value).normalize(), "f")


def when(value: datetime | None) -> str:
    return "" if value is None else format_datetime(value, "d MMM y, HH:mm", tzinfo=UTC, locale="en") + " UTC"


KIND_LABELS = {
    "license": "Licence",
    "software_subscription": "Software subscription",
    "perpetual": "Perpetual licence",
    "trial": "Trial",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def configure(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(money=money, when=when, country=country_name, plain=plain)
    env.globals.update(role_label=ROLE_LABELS.get, money=money, kind_label=kind_label)
    env.autoescape = True
