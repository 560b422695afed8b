"""Operations: work queued for Partner Center that a caller follows (API.md Conventions: 202 + operation)."""

from __future__ import annotations

import asyncio
import uuid

from app import clock, db
from app.accounts.rules import AccountRef, Principal, can_see, sees_everything
from app.errors import NotFound
from app.operations.tables import Operation

STATUSES = ("queued", "running", "succeeded", "failed")
MAX_WAIT = 30.0


async def create(
    kind: str, actor: Principal | None, *, account_id: uuid.UUID | None = None, subject_id: str = ""
) -> dict:
    """A queued operation, on the caller's transaction (it exists exactly when the work it stands for does)."""
    now = clock.now()
    operation = Operation(
        id=uuid.uuid4(),
        kind=kind,
        status="queued",
        error=None,
        account_id=account_id,
        subject_id=subject_id,
        created_by=actor.user_id if actor else None,
        created_at=now,
        updated_at=now,
    )
    rows = await Operation.insert(operation).returning(*Operation.all_columns()).run()
    return rows[0]


async def set_status(operation_id: uuid.UUID | None, status: str, error: str | None = None) -> None:
    if operation_id is None:
        return
    await (
        Operation.update({Operation.status: status, Operation.error: error, Operation.updated_at: clock.now()})
        .where(Operation.id == operation_id)
        .run()
    )


async def get(viewer: Principal, operation_id: uuid.UUID, wait: float = 0) -> dict:
    """The operation if the viewer may see it (its account in scope; the CSP's own work: CSP admins only),
    waiting up to `wait` seconds for it to end."""
    deadline = asyncio.get_running_loop().time() + max(0.0, min(wait, MAX_WAIT))
    while True:
        rows = await db.fetch(
            "SELECT o.*, a.kind AS account_kind, a.parent_id FROM operations o "
            "LEFT JOIN accounts a ON a.id = o.account_id WHERE o.id = $1",
            operation_id,
        )
        if not rows or not _visible(viewer, rows[0]):
            raise NotFound("This operation was not found.")
        row = rows[0]
        if row["status"] in ("succeeded", "failed") or asyncio.get_running_loop().time() >= deadline:
            return row
        await asyncio.sleep(0.25)


def _visible(viewer: Principal, row: dict) -> bool:
    if row["account_id"] is None:
        return sees_everything(viewer)
    return can_see(viewer, AccountRef(row["account_id"], row["account_kind"], row["parent_id"]))


def operation_json(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "status": row["status"],
        "error": row["error"],
        "created_at": row["created_at"].isoformat().replace("+00:00", "Z"),
        "updated_at": row["updated_at"].isoformat().replace("+00:00", "Z"),
    }
