"""The DDL is written by hand in migrations/; the Piccolo classes in app/<domain>/tables.py must say the same.

Both ways: every table the migrations create has exactly one class, and every class has exactly the table's
columns, with the same nullability, a matching type, the same primary key and the same foreign keys."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field

import pytest
from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    Bytea,
    Column,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app import db
from app.config import ROOT

pytestmark = pytest.mark.integration

# Tables in the migrated database that are not ours to declare, each with why.
NOT_OURS = {
    "migration": "Piccolo's own record of the migrations that ran (piccolo.apps.migrations.tables.Migration)",
    "pgqueuer": "the job queue, created by pgqueuer's installer (db.install_job_queue) and used through pgqueuer only",
    "pgqueuer_log": "pgqueuer's job log, as above",
    "pgqueuer_schedules": "pgqueuer's recurring schedules, as above",
    "pgqueuer_statistics": "pgqueuer's statistics, as above",
}

# information_schema.columns.data_type for each Piccolo column type (a foreign key is checked by its target)
DATA_TYPES: dict[type[Column], set[str]] = {
    UUID: {"uuid"},
    Text: {"text"},
    Varchar: {"character varying", "character"},  # char(n) codes (country, currency) are declared Varchar(n)
    Timestamptz: {"timestamp with time zone"},
    Date: {"date"},
    SmallInt: {"smallint"},
    Integer: {"integer"},
    Serial: {"integer"},
    BigInt: {"bigint"},
    BigSerial: {"bigint"},
    Numeric: {"numeric"},
    Boolean: {"boolean"},
    JSONB: {"jsonb"},
    Bytea: {"bytea"},
    Array: {"ARRAY"},
}
ARRAY_ELEMENTS: dict[type[Column], str] = {Text: "_text", Integer: "_int4", UUID: "_uuid", SmallInt: "_int2"}
ON_DELETE = {
    "NO ACTION": OnDelete.no_action,
    "CASCADE": OnDelete.cascade,
    "RESTRICT": OnDelete.restrict,
    "SET NULL": OnDelete.set_null,
    "SET DEFAULT": OnDelete.set_default,
}


@dataclass
class MigratedTable:
    columns: dict[str, dict] = field(default_factory=dict)
    generated: set[str] = field(default_factory=set)
    key: tuple[str, ...] = ()
    foreign_keys: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # column: (table, column, on delete)


async def migrated_schema() -> dict[str, MigratedTable]:
    tables = {
        r["table_name"]: MigratedTable()
        for r in await db.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        if r["table_name"] not in NOT_OURS
    }
    for r in await db.fetch(
        "SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, is_generated, "
        "character_maximum_length, numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = 'public'"
    ):
        if r["table_name"] not in tables:
            continue
        if r["is_generated"] != "NEVER":
            tables[r["table_name"]].generated.add(r["column_name"])
        else:
            tables[r["table_name"]].columns[r["column_name"]] = r
    for r in await db.fetch(
        "SELECT c.conrelid::regclass::text AS table_name, array_agg(a.attname::text ORDER BY k.ord) AS key "
        "FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "WHERE c.contype = 'p' AND c.connamespace = 'public'::regnamespace GROUP BY 1"
    ):
        if r["table_name"] in tables:
            tables[r["table_name"]].key = tuple(r["key"])
    for r in await db.fetch(
        "SELECT c.conrelid::regclass::text AS table_name, array_agg(a.attname::text) AS columns, "
        "c.confrelid::regclass::text AS target, array_agg(t.attname::text) AS target_columns, "
        "rc.delete_rule "
        "FROM pg_constraint c "
        "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(attnum, target_attnum) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "JOIN pg_attribute t ON t.attrelid = c.confrelid AND t.attnum = k.target_attnum "
        "JOIN information_schema.referential_constraints rc "
        "ON rc.constraint_name = c.conname AND rc.constraint_schema = 'public' "
        "WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace "
        "GROUP BY c.oid, c.conrelid, c.confrelid, rc.delete_rule"
    ):
        if r["table_name"] not in tables:
            continue
        # Piccolo's ForeignKey is one column; a composite one would show here as a column list to declare
        assert len(r["columns"]) == 1, (r["table_name"], r["columns"], "a composite foreign key")
        tables[r["table_name"]].foreign_keys[r["columns"][0]] = (r["target"], r["target_columns"][0], r["delete_rule"])
    return tables


def _type_differences(where: str, column: Column, row: dict) -> list[str]:
    kind = type(column)
    if kind not in DATA_TYPES:
        return [f"{where}: no mapping for Piccolo type {kind.__name__}; add it to DATA_TYPES"]
    found = []
    if row["data_type"] not in DATA_TYPES[kind]:
        found.append(f"{where}: declared {kind.__name__}, the table has {row['data_type']}")
    if isinstance(column, Varchar) and column.length != row["character_maximum_length"]:
        found.append(f"{where}: declared length {column.length}, the table has {row['character_maximum_length']}")
    if isinstance(column, Numeric):
        declared = tuple(column.digits) if column.digits else None
        migrated = (row["numeric_precision"], row["numeric_scale"]) if row["numeric_precision"] is not None else None
        if declared != migrated:
            found.append(f"{where}: declared numeric{declared}, the table has numeric{migrated}")
    if isinstance(column, Array):
        element = ARRAY_ELEMENTS.get(type(column.base_column))
        if element != row["udt_name"]:
            found.append(
                f"{where}: declared an array of {type(column.base_column).__name__}, the table has {row['udt_name']}"
            )
    sequence = str(row["column_default"] or "").startswith("nextval(")
    if isinstance(column, Serial | BigSerial) != sequence:
        found.append(f"{where}: a sequence default must be declared Serial/BigSerial and only then")
    return found


def differences(table_classes: list[type[Table]], schema: dict[str, MigratedTable]) -> list[str]:
    found = []
    declared = Counter(t._meta.tablename for t in table_classes)
    found += [f"{name}: {count} classes" for name, count in declared.items() if count > 1]
    found += [f"{name}: a migrated table without a Piccolo class" for name in sorted(schema.keys() - declared.keys())]
    found += [f"{name}: a class without a migrated table" for name in sorted(declared.keys() - schema.keys())]
    for table in table_classes:
        name = table._meta.tablename
        migrated = schema.get(name)
        if migrated is None:
            continue
        columns = {c._meta.db_column_name: c for c in table._meta.columns}
        found += [
            f"{name}.{c}: in the table, not in the class" for c in sorted(migrated.columns.keys() - columns.keys())
        ]
        found += [
            f"{name}.{c}: in the class, not in the table" for c in sorted(columns.keys() - migrated.columns.keys())
        ]
        generated = set(getattr(table, "generated_columns", ()))
        if generated != migrated.generated:
            found.append(f"{name}: generated columns {sorted(migrated.generated)}, the class names {sorted(generated)}")
        for column_name, column in columns.items():
            row = migrated.columns.get(column_name)
            if row is None:
                continue
            where = f"{name}.{column_name}"
            if column._meta.null != (row["is_nullable"] == "YES"):
                found.append(f"{where}: declared null={column._meta.null}, the table says {row['is_nullable']}")
            if isinstance(column, ForeignKey):
                target = column._foreign_key_meta.resolved_references
                target_column = column._foreign_key_meta.resolved_target_column
                on_delete = column._foreign_key_meta.on_delete
                declared_fk = (target._meta.tablename, target_column._meta.db_column_name, on_delete)
                fk = migrated.foreign_keys.get(column_name)
                migrated_fk = (fk[0], fk[1], ON_DELETE[fk[2]]) if fk else None
                if declared_fk != migrated_fk:
                    found.append(f"{where}: declared a foreign key {declared_fk}, the table has {migrated_fk}")
            else:
                if column_name in migrated.foreign_keys:
                    found.append(
                        f"{where}: the table has a foreign key {migrated.foreign_keys[column_name]}; declare it"
                    )
                found += _type_differences(where, column, row)
        # Piccolo knows one key column; a composite key (or none) is named in full by the class's table_key
        piccolo_key = table._meta.primary_key._meta.db_column_name
        key = tuple(getattr(table, "table_key", (piccolo_key,)))
        if key != migrated.key:
            found.append(f"{name}: primary key {migrated.key}, the class declares {key}")
        elif key and piccolo_key != key[0]:
            found.append(f"{name}: Piccolo's key column {piccolo_key} must be the key's first, {key[0]}")
    return found


async def test_every_migrated_table_has_one_class_that_says_what_the_ddl_says(migrated):
    from app.piccolo_app import APP_CONFIG

    schema = await migrated_schema()
    assert len(schema) >= 62
    assert differences(APP_CONFIG.table_classes, schema) == []


async def test_the_check_finds_what_a_migration_adds_without_a_class(tx):
    """The check itself can fail: a new column, a new table, a changed nullability, type and key are all found."""
    from app.piccolo_app import APP_CONFIG

    await db.execute("ALTER TABLE scheduler_days ADD COLUMN note text")
    await db.execute("CREATE TABLE orphans (id uuid PRIMARY KEY)")
    await db.execute("ALTER TABLE tax_rates ALTER COLUMN label DROP NOT NULL")
    await db.execute("ALTER TABLE document_series ALTER COLUMN last_number TYPE bigint")
    await db.execute("ALTER TABLE fx_rates DROP CONSTRAINT fx_rates_pkey")
    await db.execute("ALTER TABLE operations DROP CONSTRAINT operations_account_id_fkey")
    found = differences(APP_CONFIG.table_classes, await migrated_schema())
    assert "orphans: a migrated table without a Piccolo class" in found
    assert "scheduler_days.note: in the table, not in the class" in found
    assert "tax_rates.label: declared null=False, the table says YES" in found
    assert "document_series.last_number: declared Integer, the table has bigint" in found
    assert any(f.startswith("fx_rates: primary key ()") for f in found)
    assert any(f.startswith("operations.account_id: declared a foreign key") for f in found)
    assert len(found) == 6, found


def test_every_tables_module_is_registered():
    from app.piccolo_app import TABLE_MODULES

    on_disk = {".".join(path.relative_to(ROOT).with_suffix("").parts) for path in (ROOT / "app").rglob("tables.py")}
    assert on_disk == set(TABLE_MODULES)


def test_the_sandbox_store_imports_piccolo_only():
    """The sandbox stands for Microsoft: its tables depend on nothing of the app's domains."""
    tree = ast.parse((ROOT / "app" / "partner_center" / "sandbox" / "tables.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "typing", "decimal", "piccolo"}, imported
