"""The synced catalog: offers, effective-dated prices per market, sync runs, CSP settings, FX rates, margin rules."""

from app import db

ID = "2026-11-23T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "catalog"

SQL = """
-- one row: where the CSP sells and its default margin (NCE_RULES 2)
CREATE TABLE catalog_settings (
    id                  smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    markets             text[] NOT NULL,
    currencies          text[] NOT NULL,
    default_margin_kind text NOT NULL DEFAULT 'discount_off_erp'
                        CHECK (default_margin_kind IN ('markup_on_cost', 'discount_off_erp')),
    default_margin_percent numeric(9, 4) NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL
);
INSERT INTO catalog_settings (id, markets, currencies, updated_at) VALUES (1, '{US}', '{USD}', now());

CREATE TABLE catalog_sync_runs (
    id                  bigserial PRIMARY KEY,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    step                text NOT NULL DEFAULT '',
    done                integer NOT NULL DEFAULT 0,
    total               integer NOT NULL DEFAULT 0,
    counts              jsonb NOT NULL DEFAULT '{}',
    error               text,
    requested_by        uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL,
    started_at          timestamptz,
    finished_at         timestamptz
);
-- at most one sync queued or running at a time
CREATE UNIQUE INDEX catalog_sync_runs_one_active ON catalog_sync_runs ((true)) WHERE status IN ('queued', 'running');

CREATE TABLE catalog_offers (
    id                  text PRIMARY KEY,               -- ProductId:SkuId
    product_id          text NOT NULL,
    sku_id              char(4) NOT NULL,
    title               text NOT NULL,
    product_title       text NOT NULL,
    description         text NOT NULL DEFAULT '',
    publisher           text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('license', 'software_subscription', 'perpetual', 'trial')),
    segment             text NOT NULL CHECK (segment IN ('commercial', 'education', 'government', 'nonprofit')),
    is_addon            boolean NOT NULL DEFAULT false,
    prerequisites       text[] NOT NULL DEFAULT '{}',
    upgrade_targets     text[] NOT NULL DEFAULT '{}',
    min_quantity        integer NOT NULL,
    max_quantity        integer NOT NULL,
    tenant_max          integer,
    requires_attestation boolean NOT NULL DEFAULT false,
    provisioning_id     text NOT NULL DEFAULT '',
    availability_id     text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'discontinued')),
    fingerprint         text NOT NULL,                  -- what the sync compares to call an offer changed
    first_run_id        bigint NOT NULL REFERENCES catalog_sync_runs (id),
    changed_run_id      bigint NOT NULL REFERENCES catalog_sync_runs (id),
    discontinued_at     timestamptz,
    search              tsvector GENERATED ALWAYS AS (
                            to_tsvector('simple', title || ' ' || product_title || ' ' || publisher || ' ' || id)
                        ) STORED
);
CREATE INDEX catalog_offers_search_idx ON catalog_offers USING gin (search);
CREATE INDEX catalog_offers_list_idx ON catalog_offers (status, kind, lower(title), id);

-- every price row Microsoft has published, effective-dated; a row that left the sheet keeps its history.
-- Its key is the one index: the merge's key, and the lookup (an offer's rows, then its plan)
CREATE TABLE catalog_prices (
    offer_id            text NOT NULL,
    term                text NOT NULL,                  -- '' for perpetual licences
    billing_plan        text NOT NULL,                  -- monthly | annual | triennial | one_time | none
    market              char(2) NOT NULL,
    segment             text NOT NULL,
    effective_start     timestamptz NOT NULL,
    effective_end       timestamptz NOT NULL,
    currency            char(3) NOT NULL,
    unit_price          numeric(18, 4) NOT NULL,        -- the CSP's cost for the whole term
    erp_price           numeric(18, 4) NOT NULL,
    first_run_id        bigint NOT NULL,
    changed_run_id      bigint NOT NULL,
    removed_run_id      bigint,
    PRIMARY KEY (offer_id, term, billing_plan, market, segment, effective_start)
);

-- the CSP's rates for currencies Microsoft does not price (NCE_RULES 2)
CREATE TABLE fx_rates (
    from_currency       char(3) NOT NULL,
    to_currency         char(3) NOT NULL,
    effective_from      date NOT NULL,
    rate                numeric(18, 8) NOT NULL CHECK (rate > 0),
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (from_currency, to_currency, effective_from),
    CHECK (from_currency <> to_currency)
);

-- margin by scope; the most specific wins: customer > reseller > product > global (catalog_settings)
CREATE TABLE margin_rules (
    id                  uuid PRIMARY KEY,
    scope               text NOT NULL CHECK (scope IN ('customer', 'reseller', 'product')),
    account_id          uuid REFERENCES accounts (id) ON DELETE CASCADE,
    offer_id            text,                           -- with scope product, or to narrow an account rule
    kind                text NOT NULL CHECK (kind IN ('markup_on_cost', 'discount_off_erp')),
    percent             numeric(9, 4) NOT NULL CHECK (percent BETWEEN -100 AND 1000),
    allow_below_cost    boolean NOT NULL DEFAULT false,
    created_by          uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL,
    CHECK ((scope = 'product') = (account_id IS NULL)),
    CHECK (scope <> 'product' OR offer_id IS NOT NULL)
);
CREATE UNIQUE INDEX margin_rules_scope_key ON margin_rules (scope, coalesce(account_id::text, ''), coalesce(offer_id, ''));

-- per account: the surcharge on monthly plans of P1Y/P3Y terms (NCE_RULES 2), in percent
ALTER TABLE accounts ADD COLUMN monthly_surcharge_percent numeric(9, 4) NOT NULL DEFAULT 0
    CHECK (monthly_surcharge_percent BETWEEN 0 AND 100);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
