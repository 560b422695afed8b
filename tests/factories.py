"""Factories with meaningful defaults: a test names only what it cares about."""

from __future__ import annotations

import uuid

import httpx

from app.accounts import service
from app.accounts.rules import Principal
from app.accounts.tables import User
from app.auth import service as auth
from app.auth.service import principal_of

PASSWORD = "correct-horse-battery"
SYSTEM_ADMIN = Principal(
    user_id=uuid.UUID(int=0), email="system@test", name="System", role="csp_admin", account_id=None
)


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def reseller(**overrides) -> dict:
    data = {
        "name": f"Reseller {_tag()}",
        "email": f"billing-{_tag()}@reseller.test",
        "country": "US",
        "currency": "USD",
        "mpn_id": "6123401",
        "address_line1": "1 Main St",
        "city": "Redmond",
        "postal_code": "98052",
        **overrides,
    }
    return await service.create_reseller(SYSTEM_ADMIN, data)


async def customer(reseller_id: uuid.UUID | None = None, **overrides) -> dict:
    data = {
        "name": f"Customer {_tag()}",
        "email": f"it-{_tag()}@customer.test",
        "country": "DE",
        "currency": "EUR",
        "address_line1": "Friedrichstraße 100",
        "city": "Berlin",
        "postal_code": "10117",
        "reseller_id": reseller_id,
        **overrides,
    }
    return await service.create_customer(SYSTEM_ADMIN, data)


async def user(account: dict | None = None, *, password: str = PASSWORD, **overrides) -> Principal:
    """A user of `account` (a CSP admin without one), with a password set."""
    data = {"email": f"user-{_tag()}@example.test", "name": f"User {_tag()}", **overrides}
    row, _ = await service.invite_user(
        None, account["id"] if account else None, data, "http://testserver", password=password
    )
    return principal_of({**row, "account_id": row["account_id"]})


async def api_token(principal: Principal) -> dict[str, str]:
    token, _ = await auth.create_token(principal, "tests")
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, principal: Principal, password: str = PASSWORD) -> str:
    """Sign in through the login page like a browser; returns the CSRF token for later posts.

    The token is bound to the session, so it is read from a page of the session, not from the login page."""
    page = await client.get("/login")
    token = csrf_from(page.text)
    response = await client.post(
        "/login", data={"email": principal.email, "password": password, "_csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return csrf_from((await client.get("/profile")).text)


def csrf_from(html: str) -> str:
    marker = 'name="_csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def user_row(email: str) -> dict:
    return await User.select().where(User.email == email).first().run()
