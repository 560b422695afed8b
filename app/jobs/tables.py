"""The scheduler's claimed days and the shared sandbox clock's offset. DDL: migrations/m0001, m0014.

The classes mirror the hand-written DDL; tests/integration/test_tables.py keeps both in step."""

from __future__ import annotations

from decimal import Decimal

from piccolo.columns import Date, Numeric, SmallInt, Text
from piccolo.table import Table

from app.columns import timestamp


class SchedulerDay(Table, tablename="scheduler_days"):
    name = Text(primary_key=True, default=None)
    last_day = Date(default=None)


class ClockOffset(Table, tablename="clock_offset"):
    id = SmallInt(primary_key=True, default=1)
    offset_seconds = Numeric(default=Decimal(0))
    updated_at = timestamp()  # the DDL's now() default dates the seeded row only; a move writes its own time
