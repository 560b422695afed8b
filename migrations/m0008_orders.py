"""Ordering (issue 5): baskets, orders and their lines, subscriptions, and the charge ledger."""

from app import db

ID = "2026-11-23T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "orders, subscriptions and charges"

SQL = """
-- what a customer may order, and how its tenant came to Cloudseat (NCE_RULES 3)
ALTER TABLE accounts
    ADD COLUMN billing_plans text[],                    -- NULL: every plan; set in the billing options
    ADD COLUMN payment_hold boolean NOT NULL DEFAULT false,  -- set by the non-payment rules
    ADD COLUMN tenant_origin text CHECK (tenant_origin IN ('created', 'existing')),
    ADD COLUMN gdap_relationship_id text,
    ADD COLUMN gdap_status text;                        -- Graph's status of that relationship: active, ...
ALTER TABLE mca_acceptances ADD COLUMN sent_at timestamptz;  -- attested at Partner Center

-- one basket per user; a reseller's basket is for the customer it picked
CREATE TABLE baskets (
    user_id             uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id         uuid REFERENCES accounts (id),
    updated_at          timestamptz NOT NULL
);
CREATE TABLE basket_lines (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES baskets (user_id) ON DELETE CASCADE,
    offer_id            text NOT NULL,
    quantity            integer NOT NULL CHECK (quantity > 0),
    term                text NOT NULL,
    billing_plan        text NOT NULL,
    coterm_end_date     date,
    added_at            timestamptz NOT NULL
);
CREATE INDEX basket_lines_user_idx ON basket_lines (user_id, added_at);

CREATE TABLE orders (
    id                  uuid PRIMARY KEY,
    number              bigserial UNIQUE,
    customer_id         uuid NOT NULL REFERENCES accounts (id),
    bill_to_id          uuid NOT NULL REFERENCES accounts (id),
    reseller_id         uuid REFERENCES accounts (id),   -- partner of record (its MPN ID) for indirect orders
    placed_by           uuid REFERENCES users (id),
    status              text NOT NULL CHECK (status IN ('accepted', 'provisioning', 'completed', 'failed')),
    currency            char(3) NOT NULL,
    operation_id        uuid REFERENCES operations (id),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    completed_at        timestamptz
);
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at DESC);
CREATE INDEX orders_open_idx ON orders (status) WHERE status IN ('accepted', 'provisioning');

CREATE TABLE order_lines (
    id                  uuid PRIMARY KEY,
    order_id            uuid NOT NULL REFERENCES orders (id),
    line_no             integer NOT NULL,
    offer_id            text NOT NULL,
    title               text NOT NULL,
    quantity            integer NOT NULL CHECK (quantity > 0),
    term                text NOT NULL,                  -- '' for perpetual licences
    billing_plan        text NOT NULL,
    coterm_end_date     date,
    currency            char(3) NOT NULL,
    unit_price          numeric(18, 4) NOT NULL,        -- the bill-to's price for the term, per seat (locked)
    customer_unit_price numeric(18, 4) NOT NULL,        -- what the customer pays (its reseller's price)
    cost_price          numeric(18, 4) NOT NULL,        -- Microsoft's, for the term, per seat
    cost_currency       char(3) NOT NULL,
    promotion_id        text,
    first_charge        numeric(18, 4) NOT NULL,        -- what confirming bills now (all seats)
    customer_first_charge numeric(18, 4) NOT NULL,      -- the same at the customer's price
    reserved            numeric(18, 4) NOT NULL,        -- the credit this line holds until provisioned or failed
    wave                integer NOT NULL DEFAULT 0,     -- add-ons after the base bought in the same order
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'ordered', 'provisioned', 'failed')),
    error               text,
    pc_order_id         text,
    pc_line_no          integer,                        -- the line's number in that Partner Center order
    subscription_id     uuid,
    released_at         timestamptz,
    UNIQUE (order_id, line_no)
);
CREATE INDEX order_lines_held_idx ON order_lines (order_id) WHERE released_at IS NULL;

CREATE TABLE subscriptions (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES accounts (id),
    bill_to_id          uuid NOT NULL REFERENCES accounts (id),
    order_line_id       uuid UNIQUE REFERENCES order_lines (id),
    offer_id            text NOT NULL,
    title               text NOT NULL,
    partner_center_id   text UNIQUE,
    pc_order_id         text,
    status              text NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'cancelled', 'expired',
                                                         'disabled', 'deleted')),
    quantity            integer NOT NULL CHECK (quantity >= 0),
    term                text NOT NULL,
    billing_plan        text NOT NULL,
    start_date          date,
    end_date            date,
    auto_renew          boolean NOT NULL,
    is_trial            boolean NOT NULL DEFAULT false,
    currency            char(3) NOT NULL,
    unit_price          numeric(18, 4) NOT NULL,        -- price protection: fixed for the term (NCE_RULES 2)
    customer_unit_price numeric(18, 4) NOT NULL,
    cost_price          numeric(18, 4) NOT NULL,
    cost_currency       char(3) NOT NULL,
    promotion_id        text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX subscriptions_customer_idx ON subscriptions (customer_id, status);
CREATE INDEX subscriptions_bill_to_idx ON subscriptions (bill_to_id, status);

-- the charge ledger (NCE_RULES 5): what each event bills the bill-to account, and what Microsoft bills the CSP
CREATE TABLE charges (
    id                  bigserial PRIMARY KEY,
    subscription_id     uuid NOT NULL REFERENCES subscriptions (id),
    account_id          uuid NOT NULL REFERENCES accounts (id),     -- the bill-to
    charge_type         text NOT NULL CHECK (charge_type IN ('new', 'add_quantity', 'remove_quantity', 'cancel',
                                                              'renew', 'cycle', 'convert', 'surcharge', 'promotion')),
    reason              text NOT NULL,                  -- the event and side it bills ("new", "seats:<id>:old")
    quantity            integer NOT NULL,
    period_start        date NOT NULL,
    period_end          date NOT NULL,
    per_seat_amount     numeric(18, 4) NOT NULL,
    amount              numeric(18, 4) NOT NULL,
    currency            char(3) NOT NULL,
    cost_per_seat       numeric(18, 4) NOT NULL,
    cost_amount         numeric(18, 4) NOT NULL,
    cost_currency       char(3) NOT NULL,
    invoice_id          uuid,
    created_at          timestamptz NOT NULL,
    UNIQUE (subscription_id, period_start, reason)
);
CREATE INDEX charges_uninvoiced_idx ON charges (account_id) WHERE invoice_id IS NULL;
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
