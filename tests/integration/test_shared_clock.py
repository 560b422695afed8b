import asyncio
from datetime import UTC, datetime, timedelta

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


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _ten_years_after(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + 10, day=28 if (moment.month, moment.day) == (2, 29) else moment.day)


# each body is made from the clock's now; API.md: only times from now to 10 years ahead, anything else is 422
REFUSED_MOVES = {
    "year 9999": lambda now: {"to": "9999-12-31T23:59:59Z"},
    "a duration no clock can add": lambda now: {"advance": "P99999999999D"},
    "a time in the past": lambda now: {"to": _iso(now - timedelta(minutes=5))},
    "ten years and a day": lambda now: {"to": _iso(_ten_years_after(now) + timedelta(days=1))},
    "ten years and a day as a duration": lambda now: {"advance": "P3654D"},
    "an empty duration": lambda now: {"advance": "P"},
    "words": lambda now: {"advance": "8 days"},
    "a negative duration": lambda now: {"advance": "P-1D"},
    "a duration with a trailing newline": lambda now: {"advance": "P8D\n"},
    "a number": lambda now: {"advance": 8},
    "null": lambda now: {"advance": None},
    "a time without its zone": lambda now: {"to": "2030-01-01T00:00:00"},
    "not a time": lambda now: {"to": "tomorrow"},
}


@pytest.mark.parametrize("body", REFUSED_MOVES.values(), ids=REFUSED_MOVES.keys())
async def test_a_move_outside_now_to_ten_years_is_422_and_moves_nothing(reset_offset, client, body):
    from tests import factories

    headers = await factories.api_token(await factories.user(None))
    moved = await client.post("/api/v1/sandbox/clock", headers=headers, json=body(clock.now()))
    assert moved.status_code == 422, moved.text
    error = moved.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] in ("to", "advance")
    assert error["message"]
    assert await db.fetchval("SELECT offset_seconds FROM clock_offset WHERE id = 1") == 0
    assert clock.offset() == timedelta(0)
    # the app still answers its callers
    assert (await client.get("/api/v1/sandbox/clock", headers=headers)).json()["offset_seconds"] == 0
    assert (await client.get("/api/v1/accounts", headers=headers)).status_code == 200


async def test_an_offset_that_cannot_be_applied_leaves_the_clock_usable(reset_offset, client, caplog):
    """An offset written into the table by hand (or by an older version) that no date can carry: the process
    keeps telling time, says why in the log, and a later move replaces the bad offset."""
    from tests import factories

    headers = await factories.api_token(await factories.user(None))
    beyond = (datetime(9999, 12, 31, 23, 59, tzinfo=UTC) - clock.real_now()).total_seconds() + 3600
    await db.execute("UPDATE clock_offset SET offset_seconds = $1 WHERE id = 1", beyond)
    await clock.load_offset()
    assert abs(clock.now() - clock.real_now()) < timedelta(seconds=5)
    assert "cannot be applied" in caplog.text
    assert (await client.get("/api/v1/accounts", headers=headers)).status_code == 200
    assert (await client.get("/api/v1/sandbox/clock", headers=headers)).status_code == 200

    clock.set_offset(timedelta(seconds=beyond))  # a NOTIFY with the same value: refused the same way
    assert clock.offset() == timedelta(0)

    moved = await clock.advance_to(clock.real_now() + timedelta(days=8))
    assert abs(moved - (clock.real_now() + timedelta(days=8))) < timedelta(seconds=5)
    stored = timedelta(seconds=float(await db.fetchval("SELECT offset_seconds FROM clock_offset")))
    assert timedelta(days=7) < stored < timedelta(days=9)  # the bad offset is gone, not kept by "never back"
