"""The one source of time: timezone-aware UTC.

In sandbox mode the clock can be moved forward (never back) so staff can see renewals, window
closings and billing runs happen. The offset lives in the database (table `clock_offset`) so every
app process agrees; each process caches it and reloads it on a NOTIFY sent when it changes.
Tests replace the clock outright with `use_fixed_clock`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from app import db

if TYPE_CHECKING:
    import asyncpg

# How far the sandbox clock may run ahead of real time: more than any demo needs (one move goes at most 10 years),
# and so far from the last date Python can hold (9999-12-31) that every date the app derives from now() exists.
MAX_OFFSET = timedelta(days=100 * 365)

log = logging.getLogger(__name__)
_offset = timedelta(0)
_override: Callable[[], datetime] | None = None

NOTIFY_CHANNEL = "cloudseat_clock"


def real_now() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    if _override is not None:
        return _override()
    return real_now() + _offset


def offset() -> timedelta:
    return _offset


def set_offset(value: timedelta) -> None:
    """Apply the shared offset, unless no clock can run that far ahead: then keep telling the time we told (real
    time at start-up) and say why in the log. Refusing beats clamping: a clamped clock would show a time nobody
    chose, while an offset that overflowed would make every request that asks the time fail."""
    global _offset  # noqa: PLW0603 - the process-wide cache of the shared offset
    if not applicable(value):
        log.error(
            "the sandbox clock offset %s cannot be applied (it must be from 0 to %s ahead of real time): "
            "the clock stays %s ahead; move it again to replace the offset",
            value,
            MAX_OFFSET,
            _offset,
        )
        return
    _offset = value


def applicable(value: timedelta) -> bool:
    return timedelta(0) <= value <= MAX_OFFSET


class FixedClock:
    """A settable clock for tests: `clock.advance(hours=169)`."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock is timezone-aware UTC")
        self.current = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current


@contextlib.contextmanager
def use_fixed_clock(start: datetime) -> Iterator[FixedClock]:
    global _override  # noqa: PLW0603 - tests swap the one clock
    fixed = FixedClock(start)
    previous, _override = _override, fixed
    try:
        yield fixed
    finally:
        _override = previous


# --- The shared sandbox offset (table clock_offset), so every app process tells the same time -----


def _offset_of(value: object) -> timedelta:
    """clock_offset.offset_seconds is `numeric`, which asyncpg returns as a Decimal; a NOTIFY carries it as text.
    A value no timedelta can hold (NaN, too many days) comes back as one set_offset refuses."""
    if not isinstance(value, Decimal | int | float | str):
        raise TypeError(f"offset_seconds should be a number, not {value!r}")
    try:
        seconds = float(value)
        return timedelta(seconds=seconds) if math.isfinite(seconds) else timedelta.max
    except (ValueError, OverflowError):
        return timedelta.max


async def load_offset() -> timedelta:
    seconds = await db.fetchval("SELECT offset_seconds FROM clock_offset WHERE id = 1")
    set_offset(_offset_of(seconds or 0))
    return _offset


async def advance_to(target: datetime) -> datetime:
    """Move the shared clock forward to `target` (never back) and tell every process."""
    if target.tzinfo is None:
        raise ValueError("the clock is timezone-aware UTC")
    wanted = target - real_now()
    if wanted > MAX_OFFSET:
        raise ValueError(f"the sandbox clock runs at most {MAX_OFFSET} ahead of real time")
    async with db.transaction():
        # an offset that cannot be applied (written by hand) is replaced rather than kept by GREATEST
        seconds = await db.fetchval(
            "UPDATE clock_offset SET offset_seconds = CASE WHEN offset_seconds BETWEEN 0 AND $2 "
            "THEN GREATEST(offset_seconds, $1) ELSE $1 END, updated_at = now() WHERE id = 1 RETURNING offset_seconds",
            wanted.total_seconds(),
            MAX_OFFSET.total_seconds(),
        )
        await db.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(seconds))
    set_offset(_offset_of(seconds))
    return now()


class OffsetListener:
    """Keeps this process's offset equal to the database's: loads it, then follows NOTIFYs."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        import asyncpg

        self._conn = conn = await asyncpg.connect(self.dsn)
        await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        await load_offset()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        set_offset(_offset_of(payload))

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
