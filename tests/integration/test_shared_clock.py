import asyncio
from datetime import timedelta

import pytest

from app import clock, db

pytestmark = pytest.mark.integration


@pytest.fixture
async def reset_offset(committed):
    yield
    await db.execute("UPDATE clock_offset SET offset_seconds = 0 WHERE id = 1")
    clock.set_offset(timedelta(0))


async def test_moving_the_clock_reaches_another_process_and_never_goes_back(reset_offset, migrated):
    listener = clock.OffsetListener(migrated)
    await listener.start()
    try:
        # another process moves the clock: it writes the row and notifies, without touching our cache
        eight_days = timedelta(days=8).total_seconds()
        async with db.transaction():
            await db.execute("UPDATE clock_offset SET offset_seconds = $1 WHERE id = 1", eight_days)
            await db.execute("SELECT pg_notify($1, $2)", clock.NOTIFY_CHANNEL, str(eight_days))
        for _ in range(100):  # the NOTIFY arrives asynchronously
            if clock.offset() == timedelta(days=8):
                break
            await asyncio.sleep(0.02)
        assert clock.offset() == timedelta(days=8)
        assert abs(clock.now() - (clock.real_now() + timedelta(days=8))) < timedelta(seconds=1)

        moved = await clock.advance_to(clock.real_now() + timedelta(days=10))
        assert abs(moved - (clock.real_now() + timedelta(days=10))) < timedelta(seconds=5)
        await clock.advance_to(clock.real_now() + timedelta(days=1))  # earlier than now: ignored
        assert clock.offset() > timedelta(days=9, hours=23)
        clock.set_offset(timedelta(0))
        assert await clock.load_offset() > timedelta(days=9, hours=23)
    finally:
        await listener.stop()
