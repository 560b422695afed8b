"""Cross-currency bill-to (NCE_RULES 2) and credit held by queued changes (NCE_RULES 4).

Charges, order lines and invoice lines are in the bill-to's currency; when Microsoft prices the customer in
another one, the row keeps the rate, the source currency and the source amount it was converted from. A seat
increase or an upgrade holds the credit it commits to from the moment it is accepted until its operation ends,
as an order's lines do, so racing changes cannot each pass the credit check on the same exposure."""

from app import db

ID = "2026-12-06T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "money integrity"

SQL = """
ALTER TABLE charges
    ADD COLUMN fx_rate          numeric(18, 8),
    ADD COLUMN source_currency  char(3),
    ADD COLUMN source_per_seat  numeric(18, 4),
    ADD COLUMN source_amount    numeric(18, 4),
    ADD CONSTRAINT charges_fx_whole CHECK ((fx_rate IS NULL) = (source_currency IS NULL)
        AND (fx_rate IS NULL) = (source_amount IS NULL) AND (fx_rate IS NULL) = (source_per_seat IS NULL));

-- order lines: `currency`, `unit_price`, `first_charge` and `reserved` are the bill-to's; the price Microsoft's
-- market gives (and the customer's own price) is in `source_currency`
ALTER TABLE order_lines
    ADD COLUMN fx_rate              numeric(18, 8),
    ADD COLUMN source_currency      char(3),
    ADD COLUMN source_unit_price    numeric(18, 4),
    ADD COLUMN source_first_charge  numeric(18, 4);
UPDATE order_lines SET source_currency = currency, source_unit_price = unit_price, source_first_charge = first_charge;
ALTER TABLE order_lines ALTER COLUMN source_currency SET NOT NULL, ALTER COLUMN source_unit_price SET NOT NULL,
    ALTER COLUMN source_first_charge SET NOT NULL;

ALTER TABLE invoice_lines
    ADD COLUMN fx_rate          numeric(18, 8),
    ADD COLUMN source_currency  char(3),
    ADD COLUMN source_amount    numeric(18, 4);

CREATE TABLE credit_holds (
    operation_id    uuid PRIMARY KEY REFERENCES operations (id),
    account_id      uuid NOT NULL REFERENCES accounts (id),     -- the bill-to
    amount          numeric(18, 4) NOT NULL CHECK (amount >= 0),
    currency        char(3) NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX credit_holds_account_idx ON credit_holds (account_id);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
