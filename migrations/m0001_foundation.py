"""Foundation: accounts, users, sessions, API tokens, events, mail outbox, clock, job queue."""

from app import db

ID = "2026-11-23T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "foundation: accounts, users, auth, events, outbox, clock, job queue"

SQL = """
CREATE TABLE accounts (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('reseller', 'customer')),
    parent_id       uuid REFERENCES accounts (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email           text NOT NULL,
    phone           text NOT NULL DEFAULT '',
    country         char(2) NOT NULL,
    currency        char(3) NOT NULL,
    address_line1   text NOT NULL DEFAULT '',
    address_line2   text NOT NULL DEFAULT '',
    city            text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT '',
    postal_code     text NOT NULL DEFAULT '',
    tenant_id       uuid,
    tenant_domain   text,
    mpn_id          text,
    qualification   text NOT NULL DEFAULT 'commercial'
                    CHECK (qualification IN ('commercial', 'education', 'government', 'nonprofit')),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    credit_limit    numeric(18, 4),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- a reseller stands alone; a customer is direct (no parent) or belongs to a reseller
    CHECK (kind = 'customer' OR parent_id IS NULL)
);
CREATE INDEX accounts_parent_idx ON accounts (parent_id);
CREATE INDEX accounts_kind_name_idx ON accounts (kind, lower(name));
CREATE UNIQUE INDEX accounts_tenant_domain_key ON accounts (lower(tenant_domain));

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    name            text NOT NULL,
    password_hash   text,
    role            text NOT NULL CHECK (role IN ('csp_admin', 'reseller_admin', 'customer_admin')),
    account_id      uuid REFERENCES accounts (id),
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    last_login_at   timestamptz,
    -- CSP admins belong to the CSP itself, every other user to one account
    CHECK ((role = 'csp_admin') = (account_id IS NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_account_idx ON users (account_id);

CREATE TABLE sessions (
    token_hash      text PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ip              text NOT NULL DEFAULT '',
    user_agent      text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash      text NOT NULL UNIQUE,
    prefix          text NOT NULL,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE password_tokens (
    token_hash      text PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         text NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);

CREATE TABLE login_attempts (
    id              bigserial PRIMARY KEY,
    email           text NOT NULL,
    ip              text NOT NULL,
    at              timestamptz NOT NULL,
    succeeded       boolean NOT NULL
);
CREATE INDEX login_attempts_email_idx ON login_attempts (lower(email), at);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, at);

CREATE TABLE mca_acceptances (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id),
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    email           text NOT NULL,
    phone           text NOT NULL DEFAULT '',
    accepted_at     timestamptz NOT NULL,
    method          text NOT NULL CHECK (method IN ('customer', 'reseller_attested', 'csp_attested')),
    recorded_by     uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX mca_acceptances_account_idx ON mca_acceptances (account_id, accepted_at);

CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor_id        uuid,
    actor           text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text NOT NULL,
    action          text NOT NULL,
    before          jsonb,
    after           jsonb
);
CREATE INDEX events_subject_idx ON events (subject_type, subject_id, at);

CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    to_address      text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    attachments     jsonb NOT NULL DEFAULT '[]',
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    transport       text NOT NULL DEFAULT '',
    error           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX mail_outbox_created_idx ON mail_outbox (created_at DESC);

-- the sandbox clock's offset, one row shared by every app process
CREATE TABLE clock_offset (
    id              smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    offset_seconds  numeric NOT NULL DEFAULT 0 CHECK (offset_seconds >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO clock_offset (id) VALUES (1);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL, db.install_job_queue)
