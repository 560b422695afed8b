"""The one source of time: timezone-aware UTC.

In sandbox mode the clock can be moved forward (never back) so staff can see renewals, window
closings and billing runs happen. The offset lives in the database (table `clock_offset`) so every
app process agrees; each process caches it and reloads it on a NOTIFY sent when it changes.
Tests replace the clock outright with `use_fixed_clock`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

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
    global _offset  # noqa: PLW0603 - the process-wide cache of the shared offset
    _offset = value


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


def _seconds(value: object) -> float:
    """clock_offset.offset_seconds is `numeric`, which asyncpg returns as a Decimal."""
    if not isinstance(value, Decimal | int | float):
        raise TypeError(f"offset_seconds should be a number, not {value!r}")
    return float(value)


async def load_offset() -> timedelta:
    from app import db

    seconds = await db.fetchval("SELECT offset_seconds FROM clock_offset WHERE id = 1")
    set_offset(timedelta(seconds=_seconds(seconds or 0)))
    return _offset


async def advance_to(target: datetime) -> datetime:
    """Move the shared clock forward to `target` (never back) and tell every process."""
    from app import db

    if target.tzinfo is None:
        raise ValueError("the clock is timezone-aware UTC")
    wanted = (target - real_now()).total_seconds()
    async with db.transaction():
        seconds = await db.fetchval(
            "UPDATE clock_offset SET offset_seconds = GREATEST(offset_seconds, $1), updated_at = now() "
            "WHERE id = 1 RETURNING offset_seconds",
            wanted,
        )
        await db.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(seconds))
    set_offset(timedelta(seconds=_seconds(seconds)))
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
        set_offset(timedelta(seconds=float(payload)))

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
