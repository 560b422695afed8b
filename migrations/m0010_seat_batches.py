"""Seat batches: each purchase, renewal or seat increase opens its own 168-hour cancellation window (NCE_RULES 4)."""

from app import db

ID = "2026-11-23T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "seat batches"

SQL = """
CREATE TABLE subscription_seat_batches (
    subscription_id     uuid NOT NULL REFERENCES subscriptions (id),
    quantity            integer NOT NULL CHECK (quantity > 0),
    window_ends_at      timestamptz NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX subscription_seat_batches_idx ON subscription_seat_batches (subscription_id, window_ends_at);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
