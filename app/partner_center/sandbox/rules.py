"""Microsoft's NCE arithmetic, as the sandbox applies it. Pure: dates and Decimals in, decisions out.

Sources are in ../shared/partner_center_facts.md (section numbers in the comments) and NCE_RULES.md.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

# Microsoft's NCE calendar and proration are Cloudseat's own billing arithmetic: one implementation, so the
# charges Cloudseat posts and the line items the sandbox produces follow the same rules
from app.billing.rules import (  # noqa: F401 - re-exported for the sandbox's modules
    TERM_MONTHS,
    Charge,
    Period,
    add_months,
    billing_period,
    days_left,
    months_per_period,
    per_seat_charge,
    period_price,
    quantity_change_charges,
    term_end,
)
from app.money import round_unit_price
from app.subscriptions.rules import (  # noqa: F401 - re-exported for the sandbox's modules
    CANCELLATION_WINDOW,
    DISABLED_DAYS,
    EXPIRED_DAYS,
    move_seats,
    refundable_quantity,
    take_from_batches,
)

CART_LIFETIME = timedelta(days=7)  # facts 6.1


def next_status_after_term(auto_renew: bool, status: str, is_trial: bool) -> str:
    """At term end: renew when auto-renew is on and the subscription is active; else expire (facts 7.5)."""
    if status == "active" and auto_renew and not is_trial:
        return "renew"
    return "expired"


def promoted_price(price: Decimal, percent: Decimal | None) -> Decimal:
    """A promotion's PercentDiscount off the term price (0.05 is 5% off), at unit-price precision."""
    return price if not percent else round_unit_price(price * (1 - percent))


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
