"""Operations (work queued for Partner Center, followed through GET /operations/{id}) and synced promotions."""

from app import db

ID = "2026-11-23T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "operations and promotions"

SQL = """
CREATE TABLE operations (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL,
    status              text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error               text,
    account_id          uuid REFERENCES accounts (id),  -- whose it is (scope); NULL: the CSP's own work
    subject_id          text,                           -- what it works on (a sync run, an order...)
    created_by          uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX operations_account_idx ON operations (account_id, created_at DESC);
ALTER TABLE catalog_sync_runs ADD COLUMN operation_id uuid REFERENCES operations (id);

-- Microsoft's promotions per market, as synced (facts 6.4); products: [{offer_id, term, billing_plan, percent}]
CREATE TABLE catalog_promotions (
    id                  text NOT NULL,
    market              char(2) NOT NULL,
    name                text NOT NULL,
    description         text NOT NULL DEFAULT '',
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL,
    auto_applicable     boolean NOT NULL,
    products            jsonb NOT NULL,
    min_seats           integer,
    max_seats           integer,
    first_purchase_only boolean NOT NULL DEFAULT false,
    run_id              bigint NOT NULL REFERENCES catalog_sync_runs (id),
    PRIMARY KEY (id, market)
);
CREATE INDEX catalog_promotions_products_idx ON catalog_promotions USING gin (products jsonb_path_ops);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
