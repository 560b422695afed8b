"""The event log: every change of state writes one row (DESIGN.md, Data)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

from app import clock, db
from app.accounts.rules import Principal
from app.audit.tables import Event

SYSTEM = "system"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, uuid.UUID | decimal.Decimal | dt.date | dt.datetime):
        return str(value)
    return value


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields that changed, so the log shows what a person did and nothing else."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


async def record(
    actor: Principal | None,
    subject_type: str,
    subject_id: object,
    action: str,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    await record_by(actor.user_id if actor else None, actor.email if actor else None, subject_type, subject_id, action,
                    before, after)  # fmt: skip


async def record_by(
    actor_id: uuid.UUID | None,
    actor_email: str | None,
    subject_type: str,
    subject_id: object,
    action: str,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """A change made for a person by a job that runs after they asked (their id and email kept on the job)."""
    await Event.insert(
        Event(
            at=clock.now(),
            actor_id=actor_id,
            actor=actor_email or SYSTEM,
            subject_type=subject_type,
            subject_id=str(subject_id),
            action=action,
            before=json.dumps(_plain(before)) if before is not None else None,
            after=json.dumps(_plain(after)) if after is not None else None,
        )
    ).run()


async def record_many(subject_type: str, action: str, changes: list[tuple[object, dict, dict]]) -> None:
    """Many system changes `(subject_id, before, after)` of one kind in one statement (the scheduler's bulk moves)."""
    if not changes:
        return
    await db.execute(
        "INSERT INTO events (at, actor_id, actor, subject_type, subject_id, action, before, after) "
        "SELECT $1, NULL, $2, $3, s, $4, b::jsonb, a::jsonb "
        "FROM unnest($5::text[], $6::text[], $7::text[]) AS e(s, b, a)",
        clock.now(),
        SYSTEM,
        subject_type,
        action,
        [str(subject) for subject, _, _ in changes],
        [json.dumps(_plain(before)) for _, before, _ in changes],
        [json.dumps(_plain(after)) for _, _, after in changes],
    )


async def history(subject_type: str, subject_id: object, limit: int = 50) -> list[dict]:
    return (
        await Event.select()
        .where((Event.subject_type == subject_type) & (Event.subject_id == str(subject_id)))
        .order_by(Event.id, ascending=False)
        .limit(limit)
        .output(load_json=True)
        .run()
    )
