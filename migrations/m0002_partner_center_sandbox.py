"""The Partner Center sandbox's own state (prefix pcs_): what Microsoft would hold for our partner tenant."""

from app import db

ID = "2026-11-23T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "partner center sandbox state"

SQL = """
-- one row: the sandbox partner tenant and the date its shipped price list changes
CREATE TABLE pcs_state (
    id                  smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    partner_tenant_id   uuid NOT NULL,
    price_change_date   date NOT NULL,
    created_at          timestamptz NOT NULL
);

CREATE TABLE pcs_faults (
    id                  smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    error_rate          numeric NOT NULL DEFAULT 0 CHECK (error_rate BETWEEN 0 AND 1),
    throttle_rate       numeric NOT NULL DEFAULT 0 CHECK (throttle_rate BETWEEN 0 AND 1),
    latency_ms          integer NOT NULL DEFAULT 0 CHECK (latency_ms BETWEEN 0 AND 60000)
);
INSERT INTO pcs_faults (id) VALUES (1);

-- MS-RequestId idempotency: the first complete answer to a write is replayed for its retries
CREATE TABLE pcs_requests (
    request_id          text PRIMARY KEY,
    method              text NOT NULL,
    path                text NOT NULL,
    status              integer NOT NULL,
    body                bytea NOT NULL,
    created_at          timestamptz NOT NULL
);

-- identity: registered apps, sign-ins (authorization codes) and refresh tokens
CREATE TABLE pcs_apps (
    client_id           text PRIMARY KEY,
    secret_hash         text NOT NULL,
    name                text NOT NULL,
    redirect_uris       jsonb NOT NULL DEFAULT '[]'
);
CREATE TABLE pcs_auth_codes (
    code_hash           text PRIMARY KEY,
    client_id           text NOT NULL,
    redirect_uri        text NOT NULL,
    code_challenge      text,
    nonce               text,
    user_name           text NOT NULL,
    mfa                 boolean NOT NULL,
    scope               text NOT NULL,
    expires_at          timestamptz NOT NULL,
    used_at             timestamptz
);
CREATE TABLE pcs_refresh_tokens (
    token_hash          text PRIMARY KEY,
    client_id           text NOT NULL,
    user_name           text NOT NULL,
    mfa                 boolean NOT NULL,
    created_at          timestamptz NOT NULL,
    revoked_at          timestamptz
);

CREATE TABLE pcs_customers (
    id                  uuid PRIMARY KEY,
    domain              text NOT NULL,
    company_name        text NOT NULL,
    country             char(2) NOT NULL,
    currency            char(3) NOT NULL,
    reseller_mpn_id     text,
    relationship        text NOT NULL DEFAULT 'reseller',
    gdap                boolean NOT NULL DEFAULT true,
    data                jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX pcs_customers_domain_key ON pcs_customers (lower(domain));

CREATE TABLE pcs_agreements (
    id                  bigserial PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    data                jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX pcs_agreements_customer_idx ON pcs_agreements (customer_id);

CREATE TABLE pcs_qualifications (
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    qualification       text NOT NULL,
    vetting_status      text NOT NULL,
    data                jsonb NOT NULL,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (customer_id, qualification)
);

CREATE TABLE pcs_carts (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    data                jsonb NOT NULL,
    checkout_result     jsonb,
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL
);

CREATE TABLE pcs_orders (
    id                  text PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    data                jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX pcs_orders_customer_idx ON pcs_orders (customer_id);

CREATE TABLE pcs_subscriptions (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES pcs_customers (id),
    order_id            text,
    product_id          text NOT NULL,
    sku_id              text NOT NULL,
    availability_id     text NOT NULL,
    segment             text NOT NULL,
    friendly_name       text NOT NULL,
    quantity            integer NOT NULL CHECK (quantity >= 0),
    status              text NOT NULL,
    term_duration       text,
    billing_cycle       text NOT NULL,
    unit_price          numeric(18, 4) NOT NULL,
    currency            char(3) NOT NULL,
    start_date          date NOT NULL,
    end_date            date,
    auto_renew          boolean NOT NULL,
    is_trial            boolean NOT NULL DEFAULT false,
    is_legacy           boolean NOT NULL DEFAULT false,
    parent_id           uuid,
    promotion_id        text,
    partner_id          text NOT NULL DEFAULT '',
    scheduled           jsonb,
    window_ends_at      timestamptz,
    status_changed_at   timestamptz NOT NULL,
    etag                integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL
);
CREATE INDEX pcs_subscriptions_customer_idx ON pcs_subscriptions (customer_id);
CREATE INDEX pcs_subscriptions_due_idx ON pcs_subscriptions (end_date) WHERE status IN ('active', 'suspended');

-- seats bought together share a 168-hour window in which they can be reduced (refundableQuantity)
CREATE TABLE pcs_seat_batches (
    id                  bigserial PRIMARY KEY,
    subscription_id     uuid NOT NULL REFERENCES pcs_subscriptions (id),
    quantity            integer NOT NULL CHECK (quantity > 0),
    allowed_until       timestamptz NOT NULL
);
CREATE INDEX pcs_seat_batches_sub_idx ON pcs_seat_batches (subscription_id, allowed_until);

-- OneTime billing line items, as Microsoft bills the partner
CREATE TABLE pcs_line_items (
    id                  bigserial PRIMARY KEY,
    customer_id         uuid NOT NULL,
    subscription_id     uuid NOT NULL,
    order_id            text,
    charge_type         text NOT NULL,
    quantity            integer NOT NULL,
    unit_price          numeric(18, 4) NOT NULL,
    effective_unit_price numeric(18, 4) NOT NULL,
    subtotal            numeric(18, 4) NOT NULL,
    currency            char(3) NOT NULL,
    charge_start        date NOT NULL,
    charge_end          date NOT NULL,
    reference_id        text,
    promotion_id        text,
    invoice_id          text,
    created_at          timestamptz NOT NULL
);
CREATE INDEX pcs_line_items_invoice_idx ON pcs_line_items (invoice_id, id);

CREATE TABLE pcs_invoices (
    id                  text PRIMARY KEY,
    invoice_date        date NOT NULL,
    period_start        date NOT NULL,
    period_end          date NOT NULL,
    currency            char(3) NOT NULL,
    total               numeric(18, 2) NOT NULL,
    created_at          timestamptz NOT NULL
);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
