from __future__ import annotations

from piccolo.columns import JSONB, UUID, BigSerial, Text, Timestamptz
from piccolo.table import Table


class Event(Table, tablename="events"):
    """Every state change: who did what to which subject, with the state before and after."""

    id = BigSerial(primary_key=True)
    at = Timestamptz(default=None)
    actor_id = UUID(null=True, default=None)
    actor = Text()
    subject_type = Text()
    subject_id = Text()
    action = Text()
    before = JSONB(null=True, default=None)
    after = JSONB(null=True, default=None)
