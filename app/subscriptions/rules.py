"""Subscription lifecycle rules (NCE_RULES 4). Pure: dates, seats and windows in, decisions out."""

from __future__ import annotations

from datetime import datetime, timedelta

CANCELLATION_WINDOW = timedelta(hours=168)  # facts 7.3: 7 days after purchase, renewal or a seat increase
EXPIRED_DAYS = 30  # facts 7.5: expired for 30 days, then disabled
DISABLED_DAYS = 90  # then deleted after 90 days disabled


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


SEATS_LOCKED = (
    "Seats can only be reduced within 168 hours of purchase or renewal. Schedule the change for renewal instead."
)


def seat_change_refusal(status: str, old: int, new: int, refundable: int, minimum: int, maximum: int) -> str | None:
    """Why a seat change cannot be made now (NCE_RULES 4), or None: increases any time while active, decreases
    only by seats still inside their cancellation window."""
    if status != "active":
        return f"Seats can only be changed while the subscription is active; it is {status}."
    if not minimum <= new <= maximum:
        return quantity_range(minimum, maximum)
    if new < old and old - new > refundable:
        return SEATS_LOCKED
    return None


def cancel_refusal(status: str, window_ends: datetime | None, now: datetime) -> str | None:
    """Why the whole subscription cannot be cancelled now (NCE_RULES 4), or None: only while active, inside the
    168 hours after its purchase or renewal."""
    if status != "active":
        return f"Only an active subscription can be cancelled; this one is {status}."
    if window_ends is None or now > window_ends:
        closed = window_ends.date().isoformat() if window_ends else "its purchase"
        return f"This subscription can no longer be cancelled: its cancellation window closed on {closed}."
    return None


def window_ends_at(batches: list[tuple[int, datetime]], now: datetime) -> datetime | None:
    """When the last open cancellation window closes; None when every window has closed."""
    open_windows = [until for quantity, until in batches if until > now and quantity > 0]
    return max(open_windows) if open_windows else None


def quantity_range(minimum: int, maximum: int) -> str:
    return f"This subscription supports quantity range between {minimum} and {maximum}."


AUTO_RENEW_NEEDED = "A change can only be scheduled for renewal while auto-renew is on. Turn auto-renew on first."


def schedule_refusal(status: str, auto_renew: bool, is_trial: bool, term: str) -> str | None:
    """Why no change can be scheduled for the next term (NCE_RULES 4), or None: it applies at renewal, so the
    subscription must be active, renewing, with a term; a trial converts by upgrade instead."""
    if status != "active":
        return f"A change can only be scheduled on an active subscription; this one is {status}."
    if is_trial or not term:
        return "Trials and perpetual licences do not renew, so nothing can be scheduled for a renewal."
    if not auto_renew:
        return AUTO_RENEW_NEEDED
    return None


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


def upgrade_refusal(
    status: str,
    is_trial: bool,
    upgrade_targets: list[str],
    target: str,
    priced: bool,
    seats: int,
    quantity: int,
    minimum: int,
    maximum: int,
) -> str | None:
    """Why `seats` of a subscription cannot move to `target` now (NCE_RULES 4), or None: only an active paid
    subscription, only to one of its SKU's upgrade targets sold for the same term and plan, between one seat and
    all of them, within the target's quantity range."""
    if status != "active":
        return f"Only an active subscription can be upgraded; this one is {status}."
    if is_trial:
        return "A trial is bought with its paid offer; use Buy on the trial."
    if target not in upgrade_targets:
        return "The subscription cannot be upgraded to this offer: it is not one of its upgrade paths."
    if not priced:
        return "The target offer is not sold for this subscription's term and billing plan."
    if not 1 <= seats <= quantity:
        return f"An upgrade moves between 1 and {quantity} seats."
    if not minimum <= seats <= maximum:
        return quantity_range(minimum, maximum)
    return None


def catalog_offer_id(partner_center_offer_id: str) -> str:
    """Cloudseat's offer id (ProductId:SkuId) from Microsoft's "ProductId:SkuId:AvailabilityId"."""
    return ":".join(partner_center_offer_id.upper().split(":")[:2])
