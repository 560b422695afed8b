"""Microsoft's NCE arithmetic, as the sandbox applies it. Pure: dates and Decimals in, decisions out.

Sources are in ../shared/partner_center_facts.md (section numbers in the comments) and NCE_RULES.md.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from app.money import round_amount, round_unit_price

CANCELLATION_WINDOW = timedelta(hours=168)  # facts 7.3: 7 days after purchase, renewal or a seat increase
EXPIRED_DAYS = 30  # facts 7.5: expired for 30 days, then disabled
DISABLED_DAYS = 90  # then deleted after 90 days disabled
CART_LIFETIME = timedelta(days=7)  # facts 6.1
TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (Jan 31 + 1 month = Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_end(start: date, term: str) -> date:
    """A term ends the day before its anniversary: P1Y from 2021-01-14 ends 2022-01-13 (facts 7.2)."""
    return add_months(start, TERM_MONTHS[term]) - timedelta(days=1)


def months_per_period(term: str, billing_cycle: str) -> int:
    """How many months one charge covers: monthly plans bill each month, upfront plans the whole term."""
    if billing_cycle == "monthly":
        return 1
    return TERM_MONTHS[term]


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def billing_period(start: date, term: str, billing_cycle: str, on: date, term_last_day: date) -> Period:
    """The billing period of a subscription that contains `on`.

    Periods start on the subscription's start day (month-based, facts 9.4) and never run past the term.
    """
    step = months_per_period(term, billing_cycle)
    k = 0
    while add_months(start, (k + 1) * step) <= on:
        k += 1
    period_start = add_months(start, k * step)
    period_end = min(add_months(start, (k + 1) * step) - timedelta(days=1), term_last_day)
    return Period(period_start, period_end)


def period_price(term_price: Decimal, term: str, billing_cycle: str) -> Decimal:
    """What one billing period costs per seat: the term price, or its monthly share (NCE_RULES 2)."""
    if billing_cycle == "monthly":
        return term_price / TERM_MONTHS[term]
    return term_price


def per_seat_charge(price_of_period: Decimal, days_left: int, period_days: int, currency: str) -> Decimal:
    """round(period price × R ÷ N): Microsoft rounds per seat, then multiplies (NCE_RULES 5, facts 10A)."""
    return round_amount(price_of_period * days_left / period_days, currency)


@dataclass(frozen=True)
class Charge:
    charge_type: str
    quantity: int
    per_seat: Decimal

    @property
    def amount(self) -> Decimal:
        return self.per_seat * self.quantity


def quantity_change_charges(charge_type: str, old_quantity: int, new_quantity: int, per_seat: Decimal) -> list[Charge]:
    """A seat change reverses the old quantity's remaining charge and bills the new quantity (facts 9.3)."""
    return [Charge(charge_type, old_quantity, -per_seat), Charge(charge_type, new_quantity, per_seat)]


def days_left(period: Period, on: date) -> int:
    """Days from `on` to the period's end, the change day included (NCE_RULES 5)."""
    return (period.end - on).days + 1


def refundable_quantity(batches: list[tuple[int, datetime]], now: datetime) -> int:
    """Seats still inside their own 168-hour window (facts 7.2 refundableQuantity)."""
    return sum(quantity for quantity, allowed_until in batches if allowed_until > now)


def take_from_batches(batches: list[tuple[int, datetime]], remove: int, now: datetime) -> list[tuple[int, datetime]]:
    """Remove seats from the open windows, newest first, so the seats bought last are refunded first."""
    remaining = []
    for quantity, allowed_until in sorted(batches, key=lambda b: b[1], reverse=True):
        kept = quantity
        if allowed_until > now and remove > 0:
            taken = min(kept, remove)
            remove -= taken
            kept -= taken
        if kept > 0:
            remaining.append((kept, allowed_until))
    if remove > 0:
        raise ValueError("more seats than the open windows hold")
    return remaining


def next_status_after_term(auto_renew: bool, status: str, is_trial: bool) -> str:
    """At term end: renew when auto-renew is on and the subscription is active; else expire (facts 7.5)."""
    if status == "active" and auto_renew and not is_trial:
        return "renew"
    return "expired"


def promoted_price(price: Decimal, percent: Decimal | None) -> Decimal:
    """A promotion's PercentDiscount off the term price (0.05 is 5% off), at unit-price precision."""
    return price if not percent else round_unit_price(price * (1 - percent))


def move_seats(
    batches: list[tuple[int, datetime]], moving: int
) -> tuple[list[tuple[int, datetime]], list[tuple[int, datetime]]]:
    """Split batches for a partial upgrade: (kept, moved). The newest seats move, each with its own window, so
    the upgraded seats keep the cancellation window they had (facts 7.3)."""
    kept, moved = [], []
    for quantity, allowed_until in sorted(batches, key=lambda b: b[1], reverse=True):
        taken = min(quantity, moving)
        moving -= taken
        if taken:
            moved.append((taken, allowed_until))
        if quantity - taken:
            kept.append((quantity - taken, allowed_until))
    if moving > 0:
        raise ValueError("more seats than the subscription holds")
    return kept, moved


TRANSITION_ERRORS = {  # TransitionErrorCode (facts 7.6)
    0: "Other",
    2: "The subscription is not active.",
    7: "The subscription cannot be transitioned to this offer: it is not one of its upgrade paths.",
    8: "The target offer was not found.",
    10: "The target offer does not support the subscription's term and billing cycle.",
    13: "The partner lacks the granular admin (GDAP) permissions to transfer licences for this customer.",
}


def transition_errors(
    *,
    status: str,
    is_upgrade_path: bool,
    plan_supported: bool,
    license_transfer: bool,
    has_directory_access: bool,
) -> list[int]:
    """Why a subscription cannot transition now (TransitionErrorCode), in Microsoft's order of checks."""
    errors = []
    if status != "active":
        errors.append(2)
    if not is_upgrade_path:
        errors.append(7)
    if not plan_supported:
        errors.append(10)
    if license_transfer and not has_directory_access:
        errors.append(13)
    return errors
