"""/api/v1 for accounts, users and MCA acceptance (API.md, Accounts). Thin: the service decides."""

from __future__ import annotations

import uuid
from typing import Literal

from litestar import Request, Router, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.accounts import service
from app.accounts.rules import Principal
from app.accounts.schemas import (
    AccountAnswer,
    AccountChangeBody,
    AccountList,
    CustomerBody,
    McaAnswer,
    McaBody,
    MeAnswer,
    ResellerBody,
    UserAnswer,
    UserBody,
    UserList,
)
from app.accounts.serializers import account_json, flatten_address, mca_json, user_json
from app.config import Settings
from app.web.auth import provide_me, signed_in
from app.web.paging import api_window, next_cursor
from app.web.schemas import Body, Cursor, Limit, SearchText, answer, fields


def _account_fields(body: Body) -> dict:
    """The service takes the address flat, like the forms send it, and the contacts as the account's own."""
    data = fields(body)
    data.update(data.pop("contacts", {}))
    return flatten_address(data)


@post("/resellers", name="api_create_reseller")
async def create_reseller(me: NamedDependency[Principal], data: ResellerBody) -> AccountAnswer:
    return answer(AccountAnswer, account_json(await service.create_reseller(me, _account_fields(data))))


@post("/customers", name="api_create_customer")
async def create_customer(me: NamedDependency[Principal], data: CustomerBody) -> AccountAnswer:
    return answer(AccountAnswer, account_json(await service.create_customer(me, _account_fields(data))))


@get("/accounts", name="api_list_accounts")
async def list_accounts(
    me: NamedDependency[Principal],
    kind: FromQuery[Literal["reseller", "customer"] | None] = None,
    q: SearchText = "",
    limit: Limit = None,
    cursor: Cursor = None,
) -> AccountList:
    size, offset = api_window(limit, cursor)
    rows, total = await service.list_accounts(me, kind=kind, q=q, limit=size, offset=offset)
    return answer(AccountList, {"items": [account_json(r) for r in rows], "next": next_cursor(size, offset, total)})


@get("/accounts/{account_id:uuid}", name="api_get_account")
async def get_account(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> AccountAnswer:
    return answer(AccountAnswer, account_json(await service.get_account(me, account_id)))


@patch("/accounts/{account_id:uuid}", name="api_update_account")
async def update_account(
    me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], data: AccountChangeBody
) -> AccountAnswer:
    return answer(AccountAnswer, account_json(await service.update_account(me, account_id, _account_fields(data))))


@get("/accounts/{account_id:uuid}/users", name="api_list_users")
async def list_users(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> UserList:
    return answer(UserList, {"items": [user_json(u) for u in await service.list_users(me, account_id)], "next": None})


@post("/accounts/{account_id:uuid}/users", name="api_invite_user")
async def invite_user(
    me: NamedDependency[Principal],
    account_id: FromPath[uuid.UUID],
    data: UserBody,
    settings: NamedDependency[Settings],
) -> UserAnswer:
    user, _ = await service.invite_user(me, account_id, fields(data), settings.base_url)
    return answer(UserAnswer, user_json(user))


@post("/customers/{account_id:uuid}/mca-acceptance", name="api_mca_acceptance")
async def mca_acceptance(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], data: McaBody) -> McaAnswer:
    return answer(McaAnswer, mca_json(await service.record_mca_acceptance(me, account_id, fields(data))))


@get("/me", name="api_me")
async def whoami(me: NamedDependency[Principal], request: Request) -> MeAnswer:
    return MeAnswer(
        id=str(me.user_id),
        email=me.email,
        name=me.name,
        role=me.role,
        account_id=str(me.account_id) if me.account_id else None,
    )


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
