"""Daily passes of the scheduler (monthly installments) claim their day, so the minute tick does not rescan
every subscription sixty times an hour; a moved clock reaches a new day and runs them again."""

from app import db

ID = "2026-11-23T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "scheduler days"

SQL = """
CREATE TABLE scheduler_days (
    name        text PRIMARY KEY,
    last_day    date NOT NULL
);
"""


forwards = db.sql_migration(ID, DESCRIPTION, SQL)
