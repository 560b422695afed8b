from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.partner_center.sandbox import rules

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("start", "term", "end"),
    [
        (date(2021, 1, 14), "P1Y", date(2022, 1, 13)),  # Microsoft's sample (facts 7.2)
        (date(2026, 1, 14), "P1Y", date(2027, 1, 13)),  # NCE_RULES 1
        (date(2026, 1, 31), "P1M", date(2026, 2, 27)),
        (date(2024, 2, 29), "P1Y", date(2025, 2, 27)),
        (date(2026, 11, 23), "P3Y", date(2029, 11, 22)),
    ],
)
def test_term_ends_the_day_before_its_anniversary(start, term, end):
    assert rules.term_end(start, term) == end


def _four_dollar_period():
    # $4/month, bought June 11: the monthly period runs June 11 - July 10, 30 days (facts 10A)
    start = date(2026, 6, 11)
    return rules.billing_period(start, "P1Y", "monthly", start, rules.term_end(start, "P1Y"))


def test_worked_example_add_a_seat_the_next_day():
    period = _four_dollar_period()
    assert (period.start, period.end, period.days) == (date(2026, 6, 11), date(2026, 7, 10), 30)
    price = rules.period_price(Decimal(48), "P1Y", "monthly")
    assert price == Decimal(4)
    new = rules.per_seat_charge(price, rules.days_left(period, date(2026, 6, 11)), period.days, "USD")
    assert new * 1 == Decimal("4.00")
    per_seat = rules.per_seat_charge(price, rules.days_left(period, date(2026, 6, 12)), period.days, "USD")
    charges = rules.quantity_change_charges("addQuantity", 1, 2, per_seat)
    assert [c.amount for c in charges] == [Decimal("-3.87"), Decimal("7.74")]


def test_worked_examples_same_day_and_removal():
    period = _four_dollar_period()
    same_day = rules.per_seat_charge(Decimal(4), rules.days_left(period, date(2026, 6, 11)), period.days, "USD")
    assert [c.amount for c in rules.quantity_change_charges("addQuantity", 1, 2, same_day)] == [
        Decimal("-4.00"),
        Decimal("8.00"),
    ]
    assert [c.amount for c in rules.quantity_change_charges("removeQuantity", 2, 1, same_day)] == [
        Decimal("-8.00"),
        Decimal("4.00"),
    ]
    next_day = rules.per_seat_charge(Decimal(4), rules.days_left(period, date(2026, 6, 12)), period.days, "USD")
    assert [c.amount for c in rules.quantity_change_charges("removeQuantity", 2, 1, next_day)] == [
        Decimal("-7.74"),
        Decimal("3.87"),
    ]


def test_periods_follow_the_start_day_and_stop_at_term_end():
    start = date(2026, 1, 31)
    end = rules.term_end(start, "P1Y")
    feb = rules.billing_period(start, "P1Y", "monthly", date(2026, 3, 1), end)
    assert (feb.start, feb.end) == (date(2026, 2, 28), date(2026, 3, 30))
    annual = rules.billing_period(start, "P1Y", "annual", date(2026, 7, 1), end)
    assert (annual.start, annual.end) == (start, end)
    last = rules.billing_period(start, "P1Y", "monthly", end, end)
    assert last.end == end


def test_refundable_quantity_counts_open_windows_only():
    now = datetime(2026, 6, 20, tzinfo=UTC)
    batches = [(5, now - timedelta(hours=1)), (3, now + timedelta(hours=100)), (2, now + timedelta(hours=5))]
    assert rules.refundable_quantity(batches, now) == 5
    left = rules.take_from_batches(batches, 4, now)
    assert sorted(q for q, _ in left) == [1, 5]  # newest batch (3) emptied first, then 1 of the 2
    with pytest.raises(ValueError, match="open windows"):
        rules.take_from_batches(batches, 6, now)


def test_term_end_decision():
    assert rules.next_status_after_term(True, "active", False) == "renew"
    assert rules.next_status_after_term(False, "active", False) == "expired"
    assert rules.next_status_after_term(True, "suspended", False) == "expired"  # NCE_RULES 4
    assert rules.next_status_after_term(True, "active", True) == "expired"  # trials never renew


def test_promoted_price_takes_the_percent_off_at_unit_price_precision():
    assert rules.promoted_price(Decimal("151.2"), Decimal("0.05")) == Decimal("143.6400")
    assert rules.promoted_price(Decimal("10.00"), Decimal("0.0333")) == Decimal("9.6670")
    assert rules.promoted_price(Decimal("151.2"), None) == Decimal("151.2")


def test_moving_seats_takes_the_newest_first_and_keeps_their_windows():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old, newer = now - timedelta(days=20), now + timedelta(days=5)
    kept, moved = rules.move_seats([(5, old), (3, newer)], 4)
    assert moved == [(3, newer), (1, old)]
    assert kept == [(4, old)]
    assert rules.move_seats([(2, old)], 2) == ([], [(2, old)])
    with pytest.raises(ValueError, match="more seats"):
        rules.move_seats([(2, old)], 3)


@pytest.mark.parametrize(
    ("kwargs", "codes"),
    [
        ({}, []),
        ({"status": "suspended"}, [2]),
        ({"is_upgrade_path": False}, [7]),
        ({"plan_supported": False}, [10]),
        ({"license_transfer": True, "has_directory_access": False}, [13]),
        ({"license_transfer": False, "has_directory_access": False}, []),
        ({"status": "expired", "is_upgrade_path": False}, [2, 7]),
    ],
)
def test_transition_errors_in_microsofts_order(kwargs, codes):
    base = {
        "status": "active",
        "is_upgrade_path": True,
        "plan_supported": True,
        "license_transfer": False,
        "has_directory_access": True,
    }
    assert rules.transition_errors(**{**base, **kwargs}) == codes
