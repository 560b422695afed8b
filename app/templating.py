"""Jinja filters the pages share: money, dates, and labels in the CSP's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from babel.dates import format_datetime
from litestar.plugins.jinja import JinjaTemplateEngine

from app import clock
from app.accounts.address_rules import country_name
from app.accounts.rules import ROLE_LABELS
from app.catalog.rules import TERM_MONTHS
from app.catalog.service import PLAN_LABELS, TERM_LABELS
from app.money import Money


def money(amount: Decimal | None, currency: str) -> str:
    return "" if amount is None else Money(Decimal(amount), currency).display()


def amount(value: Decimal | None, currency: str) -> str:
    """An amount for a form field: the currency's decimals, no symbol ("50.40", JPY "1200")."""
    return "" if value is None else Money(Decimal(value), currency).as_string()


def plain(value: Decimal | None) -> str:
    """A number as people write it: 10, 0.95, 12.5 (no trailing zeros, no exponent)."""
    return "" if value is None else format(Decimal(value).normalize(), "f")


def when(value: datetime | None) -> str:
    return "" if value is None else format_datetime(value, "d MMM y, HH:mm", tzinfo=UTC, locale="en") + " UTC"


def countdown(until: datetime | None) -> str:
    """How long until `until` by the app clock, in the two largest units: "6 days 23 h", "4 h 12 min"."""
    if until is None:
        return ""
    seconds = int((until - clock.now()).total_seconds())
    if seconds <= 0:
        return "closed"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    return f"{hours} h {rest // 60} min" if hours else f"{max(1, rest // 60)} min"


KIND_LABELS = {
    "license": "Licence",
    "software_subscription": "Software subscription",
    "perpetual": "Perpetual licence",
    "trial": "Trial",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def plan_label(term: str, plan: str) -> str:
    """ "1 year, paid monthly" """
    return f"{TERM_LABELS.get(term, term)}, {PLAN_LABELS.get(plan, plan).lower()}"


def per_period(amount: Decimal | str, currency: str, term: str, plan: str) -> str:
    """A term price as people pay it: "$5.36 /month" for a monthly plan, "$306.00 /year" upfront."""
    value = Decimal(amount)
    if plan == "monthly" and term in TERM_MONTHS:
        return f"{money(value / TERM_MONTHS[term], currency)} /month"
    per = {"P1Y": "year", "P3Y": "3 years", "P1M": "month"}.get(term)
    return money(value, currency) + (f" /{per}" if per else "")


def converted(fx: dict | None) -> str:
    """Where a converted amount came from (NCE_RULES 2): "from €14.06 at 1.0823 EUR→USD"."""
    if not fx:
        return ""
    return f"from {money(Decimal(fx['source_amount']), fx['from'])} at {fx['rate']} {fx['from']}→{fx['to']}"


def configure(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(money=money, when=when, country=country_name, plain=plain, amount=amount, countdown=countdown)
    env.globals.update(
        role_label=ROLE_LABELS.get,
        money=money,
        now=clock.now,
        timedelta=timedelta,
        kind_label=kind_label,
        plan_label=plan_label,
        per_period=per_period,
        converted=converted,
    )
    env.autoescape = True
