"""A subscription's own cancellation window (from purchase or renewal): the whole subscription can be cancelled
only inside it (NCE_RULES 4); seat batches keep the windows of added seats."""

from app import db

ID = "2026-11-23T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "subscription cancellation window"

SQL = """
ALTER TABLE subscriptions ADD COLUMN cancellation_window_ends_at timestamptz;
UPDATE subscriptions s SET cancellation_window_ends_at = (
    SELECT min(b.window_ends_at) FROM subscription_seat_batches b WHERE b.subscription_id = s.id);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
