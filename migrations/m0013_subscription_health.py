"""The daily health check (issue 6): differences between Cloudseat's subscriptions and Partner Center's, kept
until fixed or gone; the day each customer was last compared; and where billing starts for a subscription
imported from Partner Center (its earlier periods were billed elsewhere)."""

from app import db

ID = "2026-11-23T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "subscription health"

SQL = """
ALTER TABLE accounts ADD COLUMN health_checked_on date;
ALTER TABLE subscriptions ADD COLUMN billed_from date;
CREATE TABLE subscription_drifts (
    id                  bigserial PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES accounts (id),
    subscription_id     uuid REFERENCES subscriptions (id),     -- NULL: only Partner Center has it
    partner_center_id   text NOT NULL,
    field               text NOT NULL CHECK (field IN ('missing', 'quantity', 'status', 'auto_renew', 'end_date',
                                                       'scheduled_change')),
    ours                text,
    microsoft           text,
    found_at            timestamptz NOT NULL,
    seen_at             timestamptz NOT NULL,
    resolved_at         timestamptz,
    resolution          text CHECK (resolution IN ('pulled', 'pushed', 'imported', 'gone')),
    resolved_by         text
);
CREATE UNIQUE INDEX subscription_drifts_open_idx ON subscription_drifts (partner_center_id, field)
    WHERE resolved_at IS NULL;
CREATE INDEX subscription_drifts_customer_idx ON subscription_drifts (customer_id) WHERE resolved_at IS NULL;
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
