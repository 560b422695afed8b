from datetime import UTC, datetime, timedelta

import pytest

from app import clock

pytestmark = pytest.mark.unit


def test_now_is_timezone_aware_utc():
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_fixed_clock_replaces_the_one_clock_and_restores_it():
    start = datetime(2026, 1, 14, 9, 0, tzinfo=UTC)
    with clock.use_fixed_clock(start) as fixed:
        assert clock.now() == start
        fixed.advance(hours=169)
        assert clock.now() == start + timedelta(hours=169)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_fixed_clock_refuses_naive_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.FixedClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive time is the point


def test_offset_moves_now_forward():
    try:
        clock.set_offset(timedelta(days=8))
        assert clock.now() - datetime.now(UTC) > timedelta(days=7, hours=23)
    finally:
        clock.set_offset(timedelta(0))
