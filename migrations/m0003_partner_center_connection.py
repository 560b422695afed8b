"""The CSP's Partner Center connection: who connected it and the encrypted refresh token (never a password)."""

from app import db

ID = "2026-11-23T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "partner center connection"

SQL = """
CREATE TABLE partner_center_connection (
    id                  smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    user_name           text NOT NULL,
    tenant_id           text NOT NULL,
    refresh_token_enc   text NOT NULL,
    connected_by        uuid REFERENCES users (id),
    connected_at        timestamptz NOT NULL
);
-- sign-ins in progress: msal's auth code flow (state, PKCE verifier, nonce), kept until the callback
CREATE TABLE partner_center_auth_flows (
    state               text PRIMARY KEY,
    flow                jsonb NOT NULL,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          timestamptz NOT NULL
);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
