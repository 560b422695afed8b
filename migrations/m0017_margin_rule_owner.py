"""Margin rules belong to whoever made them (NCE_RULES 2, issue 16): the CSP (owner NULL) or a reseller, whose
rules price its own customers and are the only ones it sees; a reseller's default for all its customers."""

from app import db

ID = "2026-11-24T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "margin rule owner"

SQL = """
ALTER TABLE margin_rules ADD COLUMN owner uuid REFERENCES accounts (id) ON DELETE CASCADE;
"""

# until now a customer rule on a reseller's customer was the reseller's layer, whoever typed it, and the reseller
# saw and deleted it: it is the reseller's, so its customers' prices do not move with this migration
BACKFILL = """
UPDATE margin_rules m SET owner = a.parent_id
  FROM accounts a
 WHERE m.scope = 'customer' AND m.owner IS NULL AND a.id = m.account_id AND a.parent_id IS NOT NULL;
"""

CONSTRAINTS = """
-- a reseller's `reseller_customers` rule is its default for all its customers: about itself, for every offer
ALTER TABLE margin_rules DROP CONSTRAINT margin_rules_scope_check;
ALTER TABLE margin_rules
    ADD CONSTRAINT margin_rules_scope_check
        CHECK (scope IN ('customer', 'reseller', 'product', 'reseller_customers')),
    ADD CONSTRAINT margin_rules_csp_scopes_check CHECK (scope NOT IN ('reseller', 'product') OR owner IS NULL),
    ADD CONSTRAINT margin_rules_reseller_customers_check
        CHECK (scope <> 'reseller_customers' OR (owner = account_id AND offer_id IS NULL));

-- the CSP and a reseller may each have a rule for the same customer (the CSP's prices what it bills the reseller)
DROP INDEX margin_rules_scope_key;
CREATE UNIQUE INDEX margin_rules_scope_key
    ON margin_rules (coalesce(owner::text, ''), scope, coalesce(account_id::text, ''), coalesce(offer_id, ''));
CREATE INDEX margin_rules_owner_idx ON margin_rules (owner) WHERE owner IS NOT NULL;
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL, BACKFILL, CONSTRAINTS)
