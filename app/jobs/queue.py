"""Putting work on the durable queue (pgqueuer's tables, in our database).

A job is enqueued on the caller's transaction connection, so it exists exactly when the change that
asked for it commits (no lost or phantom jobs). Payloads are JSON.
"""

from __future__ import annotations

import json
from datetime import timedelta

from pgqueuer import Queries

from app import db


async def enqueue(
    entrypoint: str,
    payload: dict,
    *,
    dedupe_key: str | None = None,
    delay: timedelta | None = None,
    priority: int = 0,
) -> int | None:
    """Queue a job; with a dedupe key an identical job still waiting is not queued twice."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    current = db.DB.current_transaction.get()
    if current is not None:
        return await _enqueue(
            Queries.from_asyncpg_connection(current.connection), entrypoint, body, dedupe_key, delay, priority
        )
    async with db.transaction() as tx:
        return await _enqueue(
            Queries.from_asyncpg_connection(tx.connection), entrypoint, body, dedupe_key, delay, priority
        )


async def enqueue_many(entrypoint: str, jobs: list[tuple[dict, str]]) -> None:
    """Queue many jobs of one kind `(payload, dedupe_key)` in one statement (the scheduler's daily fan-out); a job
    whose identical twin is still waiting is not queued twice."""
    if not jobs:
        return
    bodies: list[bytes | None] = [json.dumps(p, separators=(",", ":")).encode() for p, _ in jobs]
    keys: list[str | None] = [key for _, key in jobs]
    async with db.transaction() as tx:  # joins the caller's transaction when there is one
        await Queries.from_asyncpg_connection(tx.connection).enqueue(
            [entrypoint] * len(jobs), bodies, [0] * len(jobs), [None] * len(jobs), keys, on_conflict="skip"
        )


async def _enqueue(
    queries: Queries,
    entrypoint: str,
    body: bytes,
    dedupe_key: str | None,
    delay: timedelta | None,
    priority: int,
) -> int | None:
    ids = await queries.enqueue(entrypoint, body, priority, delay, dedupe_key, on_conflict="skip")
    return ids[0]


async def failed_jobs(limit: int = 50) -> list[dict]:
    """Jobs parked after their last retry, for an admin to look at and retry."""
    return await db.fetch(
        "SELECT id, entrypoint, attempts, updated, convert_from(payload, 'UTF8') AS payload "
        "FROM pgqueuer WHERE status = 'failed' ORDER BY updated DESC LIMIT $1",
        limit,
    )
