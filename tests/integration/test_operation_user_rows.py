"""The single-row writes of an operation and an account's user list (now through their Piccolo tables): a new
operation is queued with every column the callers read, its status moves with its time, and the user list says
who took up an invitation, ordered by name then email, without the password hash."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app import clock, db
from app.accounts import service as accounts
from app.operations import service as operations
from tests import factories

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
LATER = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)


async def test_an_operation_is_queued_and_its_status_moves_with_its_time(tx):
    reseller = await factories.reseller()
    admin = await factories.user()
    with clock.use_fixed_clock(NOW):
        created = await operations.create("order", admin, account_id=reseller["id"], subject_id="o-1")
    stored = (await db.fetch("SELECT * FROM operations WHERE id = $1", created["id"]))[0]
    assert created == stored
    assert list(created) == [
        "id",
        "kind",
        "status",
        "error",
        "account_id",
        "subject_id",
        "created_by",
        "created_at",
        "updated_at",
    ]
    assert isinstance(created["id"], uuid.UUID)
    assert {k: v for k, v in created.items() if k != "id"} == {
        "kind": "order",
        "status": "queued",
        "error": None,
        "account_id": reseller["id"],
        "subject_id": "o-1",
        "created_by": admin.user_id,
        "created_at": NOW,
        "updated_at": NOW,
    }

    with clock.use_fixed_clock(NOW):
        own = await operations.create("billing_run", None)
    assert (own["account_id"], own["created_by"], own["subject_id"]) == (None, None, "")

    with clock.use_fixed_clock(LATER):
        await operations.set_status(created["id"], "failed", "Microsoft refused it.")
    row = await operations.get(admin, created["id"])
    assert (row["status"], row["error"], row["created_at"], row["updated_at"]) == (
        "failed",
        "Microsoft refused it.",
        NOW,
        LATER,
    )
    await operations.set_status(created["id"], "succeeded")
    assert (await operations.get(admin, created["id"]))["error"] is None
    untouched = await operations.get(admin, own["id"])
    assert (untouched["status"], untouched["updated_at"]) == ("queued", NOW)

    await operations.set_status(None, "failed", "nothing to mark")  # work without an operation: a no-op
    assert (await operations.get(admin, own["id"]))["status"] == "queued"


async def test_the_user_list_says_who_took_up_an_invitation_by_name_then_email(tx):
    reseller = await factories.reseller()
    other = await factories.reseller()
    await factories.user(reseller, name="Bea", email="b@reseller.test")
    await factories.user(reseller, name="Ann", email="z@reseller.test")
    await factories.user(other, name="Aaron", email="a@other.test")
    await accounts.invite_user(None, reseller["id"], {"email": "a@reseller.test", "name": "Ann"}, "http://testserver")

    users = await accounts.list_users(factories.SYSTEM_ADMIN, reseller["id"])
    assert [(u["name"], u["email"], u["has_password"]) for u in users] == [
        ("Ann", "a@reseller.test", False),
        ("Ann", "z@reseller.test", True),
        ("Bea", "b@reseller.test", True),
    ]
    assert all(
        list(u)
        == [
            "id",
            "email",
            "name",
            "role",
            "account_id",
            "is_active",
            "created_at",
            "last_login_at",
            "has_password",
        ]
        for u in users
    )
    assert {u["account_id"] for u in users} == {reseller["id"]}
    assert all(u["is_active"] and u["last_login_at"] is None for u in users)
