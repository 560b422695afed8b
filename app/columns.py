"""Column kinds every domain's tables.py shares (the Partner Center sandbox keeps its own: it is Microsoft)."""

from __future__ import annotations

from piccolo.columns import Timestamptz


def timestamp(null: bool = False) -> Timestamptz:
    """A timestamptz without a default: times always come from app.clock.now(), never from the database's clock."""
    return Timestamptz(null=null, default=None)
