"""/api/v1 for accounts, users and MCA acceptance (API.md, Accounts). Thin: the service decides."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Router, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody

from app.accounts import service
from app.accounts.rules import Principal
from app.accounts.serializers import account_json, flatten_address, mca_json, user_json
from app.config import Settings
from app.errors import Invalid
from app.web.auth import provide_me, signed_in
from app.web.paging import api_window, next_cursor

CUSTOMER_FIELDS = {
    "name",
    "email",
    "phone",
    "country",
    "currency",
    "address",
    "reseller_id",
    "domain",
    "tenant_id",
    "qualification",
}
RESELLER_FIELDS = {"name", "email", "phone", "country", "currency", "address", "mpn_id"}
PATCH_FIELDS = {"name", "email", "phone", "address", "contacts"}
USER_FIELDS = {"email", "name", "role"}
MCA_FIELDS = {"first_name", "last_name", "email", "phone", "accepted_at"}


def body_fields(body: Any, allowed: set[str]) -> dict:
    """Unknown fields are refused, so a typo never silently does nothing."""
    if not isinstance(body, dict):
        raise Invalid({"body": "Send a JSON object."})
    for key in body:
        if key not in allowed:
            raise Invalid({key: f"Unknown field {key}; expected one of: {', '.join(sorted(allowed))}."})
    if "address" in body and not isinstance(body["address"], dict):
        raise Invalid({"address": "address is an object with line1, line2, city, state and postal_code."})
    return flatten_address(body)


@post("/resellers", name="api_create_reseller")
async def create_reseller(me: NamedDependency[Principal], data: JSONBody[dict[str, Any]]) -> dict:
    return account_json(await service.create_reseller(me, body_fields(data, RESELLER_FIELDS)))


@post("/customers", name="api_create_customer")
async def create_customer(me: NamedDependency[Principal], data: JSONBody[dict[str, Any]]) -> dict:
    return account_json(await service.create_customer(me, body_fields(data, CUSTOMER_FIELDS)))


@get("/accounts", name="api_list_accounts")
async def list_accounts(
    me: NamedDependency[Principal],
    kind: FromQuery[str | None] = None,
    q: FromQuery[str] = "",
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> dict:
    if kind not in (None, "reseller", "customer"):
        raise Invalid({"kind": "kind is reseller or customer."})
    size, offset = api_window(limit, cursor)
    rows, total = await service.list_accounts(me, kind=kind, q=q, limit=size, offset=offset)
    return {"items": [account_json(r) for r in rows], "next": next_cursor(size, offset, total)}


@get("/accounts/{account_id:uuid}", name="api_get_account")
async def get_account(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> dict:
    return account_json(await service.get_account(me, account_id))


@patch("/accounts/{account_id:uuid}", name="api_update_account")
async def update_account(
    me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], data: JSONBody[dict[str, Any]]
) -> dict:
    fields = body_fields(data, PATCH_FIELDS)
    if "contacts" in fields:
        contacts = fields.pop("contacts")
        if not isinstance(contacts, dict) or set(contacts) - {"email", "phone"}:
            raise Invalid({"contacts": "contacts is an object with email and phone."})
        fields.update(contacts)
    return account_json(await service.update_account(me, account_id, fields))


@get("/accounts/{account_id:uuid}/users", name="api_list_users")
async def list_users(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> dict:
    return {"items": [user_json(u) for u in await service.list_users(me, account_id)], "next": None}


@post("/accounts/{account_id:uuid}/users", name="api_invite_user")
async def invite_user(
    me: NamedDependency[Principal],
    account_id: FromPath[uuid.UUID],
    data: JSONBody[dict[str, Any]],
    settings: NamedDependency[Settings],
) -> dict:
    user, _ = await service.invite_user(me, account_id, body_fields(data, USER_FIELDS), settings.base_url)
    return user_json(user)


@post("/customers/{account_id:uuid}/mca-acceptance", name="api_mca_acceptance")
async def mca_acceptance(
    me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], data: JSONBody[dict[str, Any]]
) -> dict:
    return mca_json(await service.record_mca_acceptance(me, account_id, body_fields(data, MCA_FIELDS)))


@get("/me", name="api_me")
async def whoami(me: NamedDependency[Principal], request: Request) -> dict:
    return {
        "id": str(me.user_id),
        "email": me.email,
        "name": me.name,
        "role": me.role,
        "account_id": str(me.account_id) if me.account_id else None,
    }


router = Router(
    path="/",
    route_handlers=[
        create_reseller,
        create_customer,
        list_accounts,
        get_account,
        update_account,
        list_users,
        invite_user,
        mca_acceptance,
        whoami,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    tags=["accounts"],
)
