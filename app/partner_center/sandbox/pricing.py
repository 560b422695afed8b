"""Prices the sandbox charges: the row of its own shipped price sheet in force at the time (NCE_RULES 2)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache

from app.partner_center.sandbox import catalog

DEFAULT_MARKET = "US"


def market_for(country: str) -> str:
    return country if country in catalog.MARKETS else DEFAULT_MARKET


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p")  # noqa: DTZ007 - Microsoft's sheet is UTC


@cache
def _index(market: str, change_date: date) -> dict[tuple[str, str, str, str], list[tuple[datetime, datetime, Decimal]]]:
    index: dict[tuple[str, str, str, str], list[tuple[datetime, datetime, Decimal]]] = {}
    for row in catalog.price_sheet_rows(market, change_date):
        key = (row["ProductId"], row["SkuId"], row["TermDuration"], row["BillingPlan"])
        index.setdefault(key, []).append(
            (
                _parse_time(row["EffectiveStartDate"]),
                _parse_time(row["EffectiveEndDate"]),
                Decimal(row["UnitPrice"]),
            )
        )
    return index


def unit_price(
    product_id: str,
    sku_id: str,
    term: str | None,
    billing_cycle: str,
    market: str,
    change_date: date,
    at: datetime,
) -> Decimal | None:
    """The partner's cost for the whole term in force at `at`; the latest start wins on overlap."""
    rows = _index(market, change_date).get(
        (product_id, sku_id, term or "", catalog.BILLING_PLAN_LABELS.get(billing_cycle, ""))
    )
    if not rows:
        return None
    naive = at.replace(tzinfo=None)
    in_force = [r for r in rows if r[0] <= naive <= r[1]]
    return max(in_force, key=lambda r: r[0])[2] if in_force else None


def currency_of(market: str) -> str:
    return catalog.MARKETS[market]
