"""Segment qualifications requested at Partner Center (NCE_RULES 3.4): what was asked for and Microsoft's vetting."""

from app import db

ID = "2026-11-23T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "qualification requests"

SQL = """
ALTER TABLE accounts
    ADD COLUMN qualification_request text CHECK (qualification_request IN ('education', 'government')),
    ADD COLUMN qualification_status text,           -- Microsoft's vettingStatus: InReview, Approved, Denied, ...
    ADD COLUMN qualification_requested_at timestamptz;
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
