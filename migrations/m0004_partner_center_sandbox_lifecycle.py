"""Sandbox state for the rest of Partner Center: asynchronous provisioning, transitions, legacy subscriptions and
their migration to new commerce, customer directories (users, licence assignments) and GDAP relationships."""

from app import db

ID = "2026-11-23T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "partner center sandbox lifecycle"

SQL = """
-- Microsoft provisions an order some seconds after checkout; the sandbox waits this long (app clock)
ALTER TABLE pcs_faults ADD COLUMN provisioning_ms integer NOT NULL DEFAULT 2000
    CHECK (provisioning_ms BETWEEN 0 AND 600000);
ALTER TABLE pcs_orders ADD COLUMN status text NOT NULL DEFAULT 'completed';
ALTER TABLE pcs_orders ADD COLUMN ready_at timestamptz;
CREATE INDEX pcs_orders_pending_idx ON pcs_orders (ready_at) WHERE status = 'pending';

-- legacy (pre-NCE) subscriptions: their legacy offer id; product_id/sku_id name the NCE equivalent if any
ALTER TABLE pcs_subscriptions ADD COLUMN legacy_offer_id text;
ALTER TABLE pcs_subscriptions ADD COLUMN migrated_from_id uuid;

CREATE TABLE pcs_transitions (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    from_subscription_id uuid NOT NULL REFERENCES pcs_subscriptions (id),
    to_subscription_id  uuid NOT NULL REFERENCES pcs_subscriptions (id),
    data                jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX pcs_transitions_from_idx ON pcs_transitions (from_subscription_id, created_at);

CREATE TABLE pcs_migrations (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    current_subscription_id uuid NOT NULL REFERENCES pcs_subscriptions (id),
    new_subscription_id uuid REFERENCES pcs_subscriptions (id),
    external_reference_id text,
    status              text NOT NULL,
    data                jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX pcs_migrations_customer_idx ON pcs_migrations (customer_id, created_at);

CREATE TABLE pcs_users (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    user_principal_name text NOT NULL,
    data                jsonb NOT NULL,
    deleted_at          timestamptz,
    created_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX pcs_users_upn_key ON pcs_users (lower(user_principal_name));
CREATE INDEX pcs_users_customer_idx ON pcs_users (customer_id, created_at, id);

-- sku_id is the Entra SKU GUID (the catalog's provisioningId), as Microsoft assigns licences (facts 8.2)
CREATE TABLE pcs_user_licenses (
    user_id             uuid NOT NULL REFERENCES pcs_users (id) ON DELETE CASCADE,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    sku_id              uuid NOT NULL,
    excluded_plans      jsonb NOT NULL DEFAULT '[]',
    assigned_at         timestamptz NOT NULL,
    PRIMARY KEY (user_id, sku_id)
);
CREATE INDEX pcs_user_licenses_sku_idx ON pcs_user_licenses (customer_id, sku_id);

-- GDAP lives in Microsoft Graph (facts 3.5): a partner asks, the customer's admin approves, roles are granted
CREATE TABLE pcs_gdap_relationships (
    id                  text PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    status              text NOT NULL,
    data                jsonb NOT NULL,
    created_at          timestamptz NOT NULL,
    ends_at             timestamptz
);
CREATE INDEX pcs_gdap_customer_idx ON pcs_gdap_relationships (customer_id);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
