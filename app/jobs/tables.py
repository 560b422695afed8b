"""The scheduler's claimed days and the shared sandbox clock's offset. DDL: migrations/m0001, m0014.

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from decimal import Decimal

from piccolo.columns import Date, Numeric, SmallInt, Text, Timestamptz
from piccolo.table import Table


def _ts(null: bool = False) -> Timestamptz:
    # times always come from app.clock.now(), never from a column default
    return Timestamptz(null=null, default=None)


class SchedulerDay(Table, tablename="scheduler_days"):
    name = Text(primary_key=True, default=None)
    last_day = Date(default=None)


class ClockOffset(Table, tablename="clock_offset"):
    id = SmallInt(primary_key=True, default=1)
    offset_seconds = Numeric(default=Decimal(0))
    updated_at = _ts()  # the DDL's now() default dates the seeded row only; a move writes its own time
