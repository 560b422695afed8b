"""Billing (issue 7): the CSP's invoicing settings and tax rates, billing runs, invoices and credit notes with
gapless numbers, payments and saved payment methods, the sandbox card gateway, and the non-payment rules."""

from app import db

ID = "2026-11-23T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "billing: invoices, payments, dunning"

SQL = """
-- the day a charge falls due (a change's day, an installment's or a renewal's first day): a billing run as of D
-- invoices what fell due by D, however late the scheduler posted it
ALTER TABLE charges ADD COLUMN posted_on date;
UPDATE charges SET posted_on = (created_at AT TIME ZONE 'UTC')::date;
ALTER TABLE charges ALTER COLUMN posted_on SET NOT NULL;
CREATE INDEX charges_account_idx ON charges (account_id, id);

-- per bill-to account: NULL means the CSP's default (billing_settings)
ALTER TABLE accounts
    ADD COLUMN tax_id text NOT NULL DEFAULT '',
    ADD COLUMN billing_day smallint NOT NULL DEFAULT 1 CHECK (billing_day BETWEEN 1 AND 28),
    ADD COLUMN payment_terms_days integer CHECK (payment_terms_days BETWEEN 0 AND 120),
    ADD COLUMN reminder_days integer[],
    ADD COLUMN suspend_after_days integer CHECK (suspend_after_days BETWEEN 1 AND 365),
    ADD COLUMN auto_pay boolean NOT NULL DEFAULT true,
    ADD COLUMN hold_reason text NOT NULL DEFAULT '';

-- the CSP as the seller on its invoices, and its defaults
CREATE TABLE billing_settings (
    id                  smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    seller_name         text NOT NULL DEFAULT '',
    seller_address      text NOT NULL DEFAULT '',
    seller_country      char(2) NOT NULL DEFAULT 'US',
    seller_tax_id       text NOT NULL DEFAULT '',
    payment_instructions text NOT NULL DEFAULT '',
    payment_terms_days  integer NOT NULL DEFAULT 14 CHECK (payment_terms_days BETWEEN 0 AND 120),
    reminder_days       integer[] NOT NULL DEFAULT '{1,7}',
    suspend_after_days  integer NOT NULL DEFAULT 14 CHECK (suspend_after_days BETWEEN 1 AND 365),
    updated_at          timestamptz
);
INSERT INTO billing_settings (id) VALUES (1);

-- tax per buyer country; reverse_charge: a B2B buyer in another country than the seller accounts for the tax
CREATE TABLE tax_rates (
    country             char(2) PRIMARY KEY,
    label               text NOT NULL CHECK (length(label) BETWEEN 1 AND 40),
    rate                numeric(7, 4) NOT NULL CHECK (rate >= 0 AND rate <= 100),
    reverse_charge      boolean NOT NULL DEFAULT false,
    updated_at          timestamptz NOT NULL
);

-- gapless numbers: the last number issued per series ("INV-2026", "CN-2026"), taken under this row's lock in the
-- transaction that issues the documents, so a rollback gives the numbers back
CREATE TABLE document_series (
    series              text PRIMARY KEY,
    last_number         integer NOT NULL CHECK (last_number >= 0)
);

CREATE TABLE billing_runs (
    id                  uuid PRIMARY KEY,
    as_of               date NOT NULL,                  -- invoices the charges that fell due by this day
    issue_date          date NOT NULL,
    billing_day         smallint,                       -- a scheduled run: the accounts billed on this day
    account_id          uuid REFERENCES accounts (id),  -- a run for one account
    status              text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    invoices            integer NOT NULL DEFAULT 0,
    credit_notes        integer NOT NULL DEFAULT 0,
    error               text,
    requested_by        uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL,
    started_at          timestamptz,
    finished_at         timestamptz
);
CREATE UNIQUE INDEX billing_runs_scheduled_key ON billing_runs (issue_date, billing_day) WHERE billing_day IS NOT NULL;

CREATE TABLE invoices (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    number              text NOT NULL UNIQUE,
    run_id              uuid REFERENCES billing_runs (id),
    account_id          uuid NOT NULL REFERENCES accounts (id),
    currency            char(3) NOT NULL,
    issue_date          date NOT NULL,
    due_date            date NOT NULL,
    -- the buyer and seller as they were on the issue day
    buyer               jsonb NOT NULL,
    seller              jsonb NOT NULL,
    subtotal            numeric(18, 4) NOT NULL,
    tax_label           text NOT NULL,
    tax_rate            numeric(7, 4) NOT NULL,
    reverse_charge      boolean NOT NULL,
    tax                 numeric(18, 4) NOT NULL,
    total               numeric(18, 4) NOT NULL,
    lines_count         integer NOT NULL,
    -- what was paid against an invoice, or applied from a credit note (positive in both)
    amount_paid         numeric(18, 4) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    status              text NOT NULL CHECK (status IN ('issued', 'partially_paid', 'paid', 'void')),
    paid_at             timestamptz,
    created_at          timestamptz NOT NULL,
    CHECK (amount_paid <= abs(total))
);
CREATE INDEX invoices_account_idx ON invoices (account_id, issue_date DESC);
CREATE INDEX invoices_open_idx ON invoices (account_id, due_date) WHERE status IN ('issued', 'partially_paid');
CREATE INDEX invoices_issue_idx ON invoices (issue_date DESC, number DESC);

-- what the document says, frozen at issue (titles and customers may change later)
CREATE TABLE invoice_lines (
    invoice_id          uuid NOT NULL REFERENCES invoices (id),
    charge_id           bigint NOT NULL,
    subscription_id     uuid NOT NULL,
    customer_name       text NOT NULL,
    description         text NOT NULL,
    charge_type         text NOT NULL,
    quantity            integer NOT NULL,
    unit_price          numeric(18, 4) NOT NULL,
    period_start        date NOT NULL,
    period_end          date NOT NULL,
    amount              numeric(18, 4) NOT NULL,
    PRIMARY KEY (invoice_id, charge_id)
);

-- an issued document is never edited (NCE_RULES 5): only its payment state moves
CREATE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (to_jsonb(NEW) - '{amount_paid,status,paid_at}'::text[])
                           IS DISTINCT FROM (to_jsonb(OLD) - '{amount_paid,status,paid_at}'::text[]) THEN
        RAISE EXCEPTION 'invoice % is issued and cannot be changed: issue a credit note', OLD.number
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_immutable();

CREATE FUNCTION invoice_lines_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice lines are issued and cannot be changed' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER invoice_lines_immutable BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_immutable();

CREATE FUNCTION charges_invoiced_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.invoice_id IS NOT NULL THEN
        RAISE EXCEPTION 'charge % is invoiced and cannot be changed', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
-- WHEN keeps the billing run's own UPDATE of a million uninvoiced charges free of a function call per row
CREATE TRIGGER charges_invoiced_immutable BEFORE UPDATE OR DELETE ON charges
    FOR EACH ROW WHEN (OLD.invoice_id IS NOT NULL) EXECUTE FUNCTION charges_invoiced_immutable();

-- saved cards (a gateway's token, never the number)
CREATE TABLE payment_methods (
    id                  uuid PRIMARY KEY,
    account_id          uuid NOT NULL REFERENCES accounts (id),
    gateway             text NOT NULL,
    gateway_ref         text NOT NULL,
    brand               text NOT NULL,
    last4               char(4) NOT NULL,
    exp_month           smallint NOT NULL,
    exp_year            smallint NOT NULL,
    is_default          boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    removed_at          timestamptz
);
CREATE UNIQUE INDEX payment_methods_default_key ON payment_methods (account_id)
    WHERE is_default AND removed_at IS NULL;

CREATE TABLE payments (
    id                  uuid PRIMARY KEY,
    invoice_id          uuid NOT NULL REFERENCES invoices (id),
    account_id          uuid NOT NULL REFERENCES accounts (id),
    amount              numeric(18, 4) NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL,
    method              text NOT NULL CHECK (method IN ('manual', 'card', 'credit_note')),
    reference           text NOT NULL DEFAULT '',
    -- pending: the gateway has not answered (a timeout); it is asked again, never charged again
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    automatic           boolean NOT NULL DEFAULT false,
    attempt             smallint NOT NULL DEFAULT 1,     -- of an automatic charge: its try, retried on a schedule
    payment_method_id   uuid REFERENCES payment_methods (id),
    gateway             text,
    gateway_ref         text,
    error               text,
    received_on         date NOT NULL,
    created_by          uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL,
    settled_at          timestamptz
);
CREATE INDEX payments_invoice_idx ON payments (invoice_id, created_at);
CREATE INDEX payments_pending_idx ON payments (created_at) WHERE status = 'pending';

-- the sandbox card gateway's own ledger: one charge per idempotency key, whatever the caller retries
CREATE TABLE sandbox_gateway_cards (
    ref                 text PRIMARY KEY,
    last4               char(4) NOT NULL,
    brand               text NOT NULL,
    number_hash         text NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE TABLE sandbox_gateway_charges (
    idempotency_key     text PRIMARY KEY,
    ref                 text NOT NULL UNIQUE,
    card_ref            text NOT NULL,
    amount              numeric(18, 4) NOT NULL,
    currency            char(3) NOT NULL,
    status              text NOT NULL CHECK (status IN ('succeeded', 'declined')),
    decline_code        text,
    created_at          timestamptz NOT NULL
);

-- the non-payment steps taken, once each per invoice and anchor (the due day, or the last partial payment's day)
CREATE TABLE dunning_steps (
    invoice_id          uuid NOT NULL REFERENCES invoices (id),
    anchor              date NOT NULL,
    step                text NOT NULL,                  -- reminder:<days> | suspend
    taken_on            date NOT NULL,
    PRIMARY KEY (invoice_id, anchor, step)
);
-- files sent with a mail (an invoice's PDF); the outbox lists their names
CREATE TABLE mail_attachments (
    mail_id             uuid NOT NULL REFERENCES mail_outbox (id) ON DELETE CASCADE,
    position            smallint NOT NULL,
    filename            text NOT NULL,
    content_type        text NOT NULL,
    content             bytea NOT NULL,
    PRIMARY KEY (mail_id, position)
);

-- which subscriptions the non-payment rules suspended, so paying reactivates those and no others
ALTER TABLE subscriptions ADD COLUMN suspended_for_nonpayment boolean NOT NULL DEFAULT false;
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
