"""Subscription lifecycle rules (NCE_RULES 4). Pure: dates, seats and windows in, decisions out."""

from __future__ import annotations

from datetime import datetime, timedelta

CANCELLATION_WINDOW = timedelta(hours=168)  # facts 7.3: 7 days after purchase, renewal or a seat increase


def refundable_quantity(batches: list[tuple[int, datetime]], now: datetime) -> int:
    """Seats still inside their own 168-hour window (facts 7.2 refundableQuantity)."""
    return sum(quantity for quantity, allowed_until in batches if allowed_until > now)


def window_ends_at(batches: list[tuple[int, datetime]], now: datetime) -> datetime | None:
    """When the last open cancellation window closes; None when every window has closed."""
    open_windows = [until for quantity, until in batches if until > now and quantity > 0]
    return max(open_windows) if open_windows else None
