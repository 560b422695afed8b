"""The subscription lifecycle rules (NCE_RULES 4) and the health check's comparison, as pure functions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from app.billing import rules as billing
from app.partner_center import models as m
from app.subscriptions import health, rules

NOW = datetime(2027, 3, 10, 12, tzinfo=UTC)


def test_a_change_is_scheduled_only_on_an_active_renewing_subscription_with_a_term():
    assert rules.schedule_refusal("active", True, False, "P1Y") is None
    assert rules.schedule_refusal("active", False, False, "P1Y") == rules.AUTO_RENEW_NEEDED
    assert rules.schedule_refusal("suspended", True, False, "P1Y").startswith(
        "A change can only be scheduled on an active"
    )
    assert "Trials" in rules.schedule_refusal("active", True, True, "P1M")
    assert "perpetual" in rules.schedule_refusal("active", True, False, "")


def test_an_upgrade_moves_between_one_seat_and_all_of_them_to_an_upgrade_target():
    def refusal(**overrides):
        args = {
            "status": "active", "is_trial": False, "upgrade_targets": ["B"], "target": "B", "priced": True,
            "seats": 2, "quantity": 3, "minimum": 1, "maximum": 300,
        } | overrides  # fmt: skip
        return rules.upgrade_refusal(**args)

    assert refusal() is None
    assert refusal(seats=3) is None  # a full upgrade
    assert refusal(status="suspended") == "Only an active subscription can be upgraded; this one is suspended."
    assert (
        refusal(target="C") == "The subscription cannot be upgraded to this offer: it is not one of its upgrade paths."
    )
    assert refusal(seats=4) == "An upgrade moves between 1 and 3 seats."
    assert refusal(seats=0) == "An upgrade moves between 1 and 3 seats."
    assert refusal(priced=False).startswith("The target offer is not sold")
    assert refusal(minimum=5, seats=3) == "This subscription supports quantity range between 5 and 300."
    assert refusal(is_trial=True).startswith("A trial is bought")


def test_the_moved_seats_keep_their_windows_newest_first():
    old, new = NOW - timedelta(days=30), NOW + timedelta(days=3)
    kept, moved = rules.move_seats([(5, old), (2, new)], 3)
    assert moved == [(2, new), (1, old)]
    assert kept == [(4, old)]


def test_a_clamped_month_is_charged_as_a_whole_month():
    """January 31's subscription: its second month starts February 28 and runs to March 30, one whole period."""
    start = date(2027, 1, 31)
    end = billing.term_end(start, "P1Y")
    period, per_seat = billing.charge_from(start, end, "P1Y", "monthly", Decimal("72"), "USD", date(2027, 2, 28))
    assert (period.start, period.end, period.full_days) == (date(2027, 2, 28), date(2027, 3, 30), 31)
    assert per_seat == Decimal("6.00")


def _pc(**fields) -> m.Subscription:
    base = {
        "id": "pc-1", "offer_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM", "quantity": 3, "status": "active",
        "auto_renew_enabled": True, "commitment_end_date": "2028-03-09", "term_duration": "P1Y",
        "billing_cycle": "monthly",
    }  # fmt: skip
    return m.Subscription(**(base | fields))


def _ours(**fields) -> dict:
    base = {
        "id": uuid.uuid4(), "partner_center_id": "pc-1", "status": "active", "quantity": 3, "auto_renew": True,
        "end_date": date(2028, 3, 9), "scheduled_change": None,
    }  # fmt: skip
    return base | fields


def test_the_health_check_finds_each_kind_of_difference():
    assert health.differences([_ours()], [_pc()]) == []
    found = health.differences(
        [_ours(quantity=2, auto_renew=False, scheduled_change='{"quantity": 5, "offer_id": "CFQ7TTC0LH18:0001", '
               '"term": "P1Y", "billing_plan": "monthly"}')],
        [_pc(), _pc(id="pc-2", friendly_name="Exchange Online (Plan 1)")],
    )  # fmt: skip
    assert [(d.partner_center_id, d.field, d.ours, d.microsoft) for d in found] == [
        ("pc-1", "quantity", "2", "3"),
        ("pc-1", "auto_renew", "off", "on"),
        ("pc-1", "scheduled_change", "5 x CFQ7TTC0LH18:0001 P1Y/monthly", "none"),
        ("pc-2", "missing", None, "3 x Exchange Online (Plan 1)"),
    ]


def test_a_cancelled_subscription_matches_microsofts_deleted_one():
    assert health.differences([_ours(status="cancelled")], [_pc(status="deleted")]) == []
    [found] = health.differences([_ours(status="active")], [_pc(status="deleted")])
    assert (found.field, found.ours, found.microsoft) == ("status", "active", "deleted")
