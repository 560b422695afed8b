"""NCE billing arithmetic (NCE_RULES 4-5, partner_center_facts 7, 9, 10): terms, billing periods and the
per-seat proration Microsoft applies. Pure: dates and Decimals in, periods and charges out. The sandbox bills
the CSP with these same functions, so Cloudseat's cost side matches Microsoft's line items to the cent."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.money import minor_units, round_amount

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
    full_days: int = 0  # N of the proration: the whole period's days, before a coterm end cuts it short

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
    period_start, next_start = add_months(start, k * step), add_months(start, (k + 1) * step)
    period_end = min(next_start - timedelta(days=1), term_last_day)
    return Period(period_start, period_end, (next_start - period_start).days)


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


def charge_from(
    start: date, end: date, term: str, billing_cycle: str, term_price: Decimal, currency: str, on: date
) -> tuple[Period, Decimal]:
    """The billing period of a subscription (started `start`, its term ending `end`) that contains `on`, and
    what one seat costs from `on` to that period's end: a whole period on its first day (new, cycle, renewal),
    the rest of it for a mid-period change, pro rata when a coterm end date cuts the period short."""
    period = billing_period(start, term, billing_cycle, on, end)
    price = period_price(term_price, term, billing_cycle)
    return period, per_seat_charge(price, days_left(period, on), period.full_days, currency)


def first_term_end(start: date, term: str, coterm_end: date | None) -> date:
    """A new subscription's first term ends on its natural end, or on the coterm date it asked for."""
    return coterm_end or term_end(start, term)


def term_commitment(
    start: date, end: date, term: str, billing_cycle: str, term_price: Decimal, currency: str
) -> Decimal:
    """What one seat commits to for a term (started `start`, ending `end`): every period's charge, the short
    period of a coterm term pro rata. Upfront plans: one charge; monthly plans: each month's installment."""
    return commitment_from(start, end, term, billing_cycle, term_price, currency, start)


def commitment_from(
    start: date, end: date, term: str, billing_cycle: str, term_price: Decimal, currency: str, on: date
) -> Decimal:
    """What one seat added on `on` commits to until the term ends: the rest of the current period (what the
    change charges now), then every later period's charge (NCE_RULES 4, 5)."""
    total = Decimal(0)
    while on <= end:
        period, per_seat = charge_from(start, end, term, billing_cycle, term_price, currency, on)
        total += per_seat
        on = period.end + timedelta(days=1)
    return total


# --- Invoices and credit notes (NCE_RULES 5) -------------------------------------------------------------------

SERIES_PREFIX = {"invoice": "INV", "credit_note": "CN"}


def series(kind: str, issue_date: date) -> str:
    """Numbers run per document kind and year: INV-2026, CN-2026."""
    return f"{SERIES_PREFIX[kind]}-{issue_date.year}"


def document_number(series_name: str, number: int) -> str:
    return f"{series_name}-{number:06d}"


def document_kind(net: Decimal) -> str:
    """Credits net against charges; a run whose result would be negative issues a credit note."""
    return "credit_note" if net < 0 else "invoice"


@dataclass(frozen=True)
class TaxRate:
    """What the CSP configured for a buyer country."""

    country: str
    label: str
    rate: Decimal  # percent
    reverse_charge: bool = False


@dataclass(frozen=True)
class Tax:
    label: str
    rate: Decimal
    reverse_charge: bool = False


NO_TAX = Tax("No tax", Decimal(0))


def tax_for(seller_country: str, buyer_country: str, rate: TaxRate | None, *, business: bool) -> Tax:
    """The tax an invoice to `buyer_country` carries. Reverse charge: a business buyer (one with a VAT id) in another
    country than the seller accounts for the tax itself (EU VAT, B2B cross-border), so the invoice shows the rate's
    label at 0%; a buyer without a VAT id pays its country's rate (EU B2C, the one-stop shop)."""
    if rate is None:
        return NO_TAX
    if rate.reverse_charge and business and buyer_country != seller_country:
        return Tax(f"{rate.label}, reverse charge", Decimal(0), reverse_charge=True)
    return Tax(rate.label, rate.rate)


def tax_amount(subtotal: Decimal, rate: Decimal, currency: str) -> Decimal:
    """Tax is applied per invoice to the subtotal and rounded once, in the currency's minor unit."""
    return round_amount(subtotal * rate / 100, currency)


def due_date(issue_date: date, payment_terms_days: int) -> date:
    return issue_date + timedelta(days=payment_terms_days)


def invoice_status(total: Decimal, amount_paid: Decimal) -> str:
    """issued, partially_paid or paid; a document with nothing to pay is paid when issued."""
    if amount_paid >= abs(total):
        return "paid"
    return "partially_paid" if amount_paid > 0 else "issued"


def payment_refusal(amount: Decimal, balance: Decimal, currency: str) -> str | None:
    """Partial payments are allowed; never more than the balance (NCE_RULES 5)."""
    if amount <= 0:
        return "A payment is more than zero."
    if round_amount(amount, currency) != amount:
        return f"{currency} amounts have at most {minor_units(currency)} decimals."
    if amount > balance:
        shown = round_amount(balance, currency)
        return (
            f"This payment of {amount} {currency} is more than the invoice's balance of {shown} {currency}. "
            "A payment can never exceed the balance."
        )
    return None


# --- Non-payment (NCE_RULES 5) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DunningPolicy:
    reminder_days: tuple[int, ...]
    suspend_after_days: int


def dunning_steps(anchor: date, policy: DunningPolicy, today: date) -> list[str]:
    """The steps due for an overdue invoice: a reminder at each chosen day overdue, and suspension at N days. Days
    count from the anchor: the due day, or the day of the last partial payment (a payment restarts the count)."""
    overdue = (today - anchor).days
    steps = [f"reminder:{days}" for days in sorted(policy.reminder_days) if overdue >= days]
    if overdue >= policy.suspend_after_days:
        steps.append("suspend")
    return steps


def dunning_step_day(anchor: date, step: str, policy: DunningPolicy) -> date:
    """The day a step fell due: a clock moved past it still sends and dates it as on that day (NCE_RULES 5)."""
    days = policy.suspend_after_days if step == "suspend" else int(step.removeprefix("reminder:"))
    return anchor + timedelta(days=days)


def dunning_anchor(due: date, last_payment_on: date | None) -> date:
    return max(due, last_payment_on) if last_payment_on else due
