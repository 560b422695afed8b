"""The checks an order passes before anything is sent to Microsoft (NCE_RULES 3), in the rules' order.

Pure: the service gathers the customer's situation into a `Situation` and the basket into `Line`s; the first
check that fails, on the first line it fails for, is the answer. Each check looks at every line before the
next check runs, so a person fixing one refusal is not surprised by an earlier rule afterwards.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from app.billing.rules import term_end
from app.money import round_amount

MCA_MISSING = "The customer must accept the Microsoft Customer Agreement before ordering."
ADDON_WITHOUT_BASE = "The addon is not purchasable without a compatible base subscription"


@dataclass(frozen=True)
class Line:
    offer_id: str
    title: str
    kind: str  # license | software_subscription | perpetual | trial
    segment: str
    quantity: int
    term: str
    billing_plan: str
    min_quantity: int
    max_quantity: int
    tenant_max: int | None = None
    is_addon: bool = False
    prerequisites: tuple[str, ...] = ()
    coterm_end_date: date | None = None
    commitment: Decimal = Decimal(0)  # what the line commits the bill-to to, in its currency (NCE_RULES 5)


@dataclass(frozen=True)
class Situation:
    """The customer and its bill-to account as the checks need them."""

    account_status: str
    payment_hold: bool
    has_mca: bool
    existing_tenant: bool  # linked, not created by the CSP: needs GDAP unless the CSP already manages it
    gdap_active: bool
    qualification: str
    allowed_plans: frozenset[str] | None  # None: every plan
    currency: str
    today: date
    credit_limit: Decimal | None = None
    exposure: Decimal = Decimal(0)
    tenant_seats: dict[str, int] | None = None  # offer id -> seats on the tenant, every reseller's
    owned_offers: frozenset[str] = frozenset()  # offer ids of the customer's active subscriptions
    trials_used: frozenset[str] = frozenset()  # offer ids of the trials the tenant has had
    subscription_end_dates: frozenset[date] = frozenset()  # of the customer's active subscriptions
    # the CSP already manages the tenant: it created it, or a GDAP relationship to it is active for some account
    tenant_managed_by_csp: bool = False


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    line: int | None = None  # index of the line it concerns

    def __str__(self) -> str:
        return self.message


Check = Callable[[Situation, Sequence[Line]], Refusal | None]


def _per_line(code: str, test: Callable[[Situation, Line, Sequence[Line]], str | None]) -> Check:
    def check(situation: Situation, lines: Sequence[Line]) -> Refusal | None:
        for n, line in enumerate(lines):
            if (message := test(situation, line, lines)) is not None:
                return Refusal(code, message, n)
        return None

    return check


def account_in_good_standing(situation: Situation, lines: Sequence[Line]) -> Refusal | None:
    if situation.account_status != "active":
        return Refusal("account_inactive", f"This account is {situation.account_status} and cannot order.")
    if situation.payment_hold:
        return Refusal(
            "payment_hold", "This account is on hold for non-payment. Pay the overdue balance to order again."
        )
    return None


def mca_accepted(situation: Situation, lines: Sequence[Line]) -> Refusal | None:
    return None if situation.has_mca else Refusal("mca_required", MCA_MISSING)


def gdap_for_existing_tenant(situation: Situation, lines: Sequence[Line]) -> Refusal | None:
    """Only a tenant new to the CSP waits for its admin's approval: one the CSP already manages (it created it, or
    a relationship to it is active for another account, say a second reseller's customer) needs none."""
    if situation.existing_tenant and not situation.gdap_active and not situation.tenant_managed_by_csp:
        return Refusal(
            "gdap_required",
            "Ordering for an existing tenant needs an active delegated-admin (GDAP) relationship with the CSP.",
        )
    return None


def _segment(situation: Situation, line: Line, lines: Sequence[Line]) -> str | None:
    if line.segment not in ("commercial", situation.qualification):
        return f"Item '{line.title}' is for {line.segment} customers only."
    return None


def _quantity(situation: Situation, line: Line, lines: Sequence[Line]) -> str | None:
    if not line.min_quantity <= line.quantity <= line.max_quantity:
        return f"Item '{line.title}' supports quantity range between {line.min_quantity} and {line.max_quantity}."
    return None


def _tenant_cap(situation: Situation, line: Line, lines: Sequence[Line]) -> str | None:
    """Microsoft pools the cap per SKU per tenant across every partner; the whole order counts."""
    if line.tenant_max is None:
        return None
    held = (situation.tenant_seats or {}).get(line.offer_id, 0)
    ordered = sum(other.quantity for other in lines if other.offer_id == line.offer_id)
    if held + ordered > line.tenant_max:
        remaining = max(line.tenant_max - held, 0)
        return f"Item '{line.title}' exceeds the tenant limit of {line.tenant_max} seats; {remaining} remaining."
    return None


def _addon(situation: Situation, line: Line, lines: Sequence[Line]) -> str | None:
    if not line.is_addon:
        return None
    bases = situation.owned_offers | {other.offer_id for other in lines if not other.is_addon}
    return None if bases & set(line.prerequisites) else ADDON_WITHOUT_BASE


def _plan(situation: Situation, line: Line, lines: Sequence[Line]) -> str | None:
    if situation.allowed_plans is not None and line.billing_plan not in situation.allowed_plans:
        return f"The {line.billing_plan} billing plan is not available for this account."
    return None


def _credit(situation: Situation, lines: Sequence[Line], what: str) -> Refusal | None:
    if situation.credit_limit is None:
        return None
    ordered = sum((line.commitment for line in lines), Decimal(0))
    if situation.exposure + ordered <= situation.credit_limit:
        return None
    available = round_amount(max(situation.credit_limit - situation.exposure, Decimal(0)), situation.currency)
    return Refusal("credit_limit", f"This {what} exceeds the available credit of {available} {situation.currency}.")


def credit_available(situation: Situation, lines: Sequence[Line]) -> Refusal | None:
    return _credit(situation, lines, "order")


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _coterm(situation: Situation, line: Line, lines: Sequence[Line]) -> str | None:
    end = line.coterm_end_date
    if end is None:
        return None
    if line.kind in ("trial", "perpetual") or line.term not in ("P1M", "P1Y", "P3Y"):
        return f"Item '{line.title}' cannot take an end date of its own."
    natural = term_end(situation.today, line.term)
    if not situation.today < end <= natural:
        return f"The end date of '{line.title}' must fall within its first term, by {natural.isoformat()}."
    if not (is_month_end(end) or end in situation.subscription_end_dates):
        return (
            f"The end date of '{line.title}' must be the end of a calendar month or the end date of one of the "
            "customer's active subscriptions."
        )
    return None


def _trial(situation: Situation, line: Line, lines: Sequence[Line]) -> str | None:
    if line.kind != "trial":
        return None
    if line.offer_id in situation.trials_used:
        return f"This customer has already had the trial of '{line.title}'; it can buy the paid offer."
    if sum(1 for other in lines if other.offer_id == line.offer_id) > 1:
        return f"Order the trial of '{line.title}' once."
    return None


# NCE_RULES 3, in its order
CHECKS: tuple[Check, ...] = (
    account_in_good_standing,
    mca_accepted,
    gdap_for_existing_tenant,
    _per_line("segment", _segment),
    _per_line("quantity_range", _quantity),
    _per_line("tenant_limit", _tenant_cap),
    _per_line("addon_without_base", _addon),
    _per_line("billing_plan_unavailable", _plan),
    credit_available,
    _per_line("coterm_end_date", _coterm),
    _per_line("trial_used", _trial),
)


def change_refusal(situation: Situation, line: Line, added: int) -> Refusal | None:
    """NCE_RULES 4: a change that raises what the bill-to owes now (a seat increase, an upgrade) is checked like an
    order line, by the same checks: the SKU's range on the subscription's quantity after the change
    (`line.quantity`), the pooled tenant maximum on the `added` seats, and the credit limit on what it commits
    (`line.commitment`)."""
    if (refusal := _quantity(situation, line, [line])) is not None:
        return Refusal("quantity_range", refusal)
    if (refusal := _tenant_cap(situation, replace(line, quantity=added), [replace(line, quantity=added)])) is not None:
        return Refusal("tenant_limit", refusal)
    return _credit(situation, [line], "change")


def first_refusal(situation: Situation, lines: Sequence[Line]) -> Refusal | None:
    for check in CHECKS:
        if (refusal := check(situation, lines)) is not None:
            return refusal
    return None


def waves(lines: Sequence[Line], owned_offers: frozenset[str]) -> list[int]:
    """Which cart each line goes in: add-ons whose base is bought in the same order wait for it (Microsoft
    only sells an add-on to a tenant that already has its base)."""
    return [1 if line.is_addon and not (owned_offers & set(line.prerequisites)) else 0 for line in lines]
