"""The time-driven lifecycle (NCE_RULES 4): the customer's renewal intent (the scheduled change, kept by
Cloudseat because Microsoft drops it on any immediate change or suspension), when the status last moved (the
expiry chain counts from it), and when the term end was last looked at Partner Center."""

from app import db

ID = "2026-11-23T20:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "subscription lifecycle"

SQL = """
ALTER TABLE subscriptions
    ADD COLUMN scheduled_change jsonb,
    ADD COLUMN status_changed_at timestamptz,
    ADD COLUMN term_checked_at timestamptz;
UPDATE subscriptions SET status_changed_at = updated_at;
-- the scheduler's questions: what renews or ends, which monthly plans owe an installment
CREATE INDEX subscriptions_term_end_idx ON subscriptions (end_date) WHERE status IN ('active', 'suspended');
CREATE INDEX subscriptions_expiring_idx ON subscriptions (status, status_changed_at)
    WHERE status IN ('expired', 'disabled');
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
