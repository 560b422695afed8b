"""What each role's lists CONTAIN (the authorization matrix checks status codes): in a world with rows in every
list, every list endpoint, list page and fetch answers exactly the rows whose account `can_see` lets the caller
see, the expectation computed from `can_see` over every row in the database."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import AccountRef, Principal, can_see, scope_sql
from app.catalog import service as catalog
from app.operations import service as operations
from tests import factories
from tests.conftest import _clean
from tests.integration import billing_fixtures
from tests.integration.test_billing_runs import run_now

pytestmark = pytest.mark.integration

ROLES = ("csp", "reseller", "customer", "other_reseller", "direct")
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
async def world(tx) -> dict[str, Principal]:
    """Two resellers with customers, a direct customer, and rows of every kind for each; returns the actors."""
    await _clean()  # inside the test's transaction: rolled back with it
    r1, r2 = await factories.reseller(), await factories.reseller()
    c1, c1b, c2 = (
        await factories.customer(r1["id"]),
        await factories.customer(r1["id"]),
        await factories.customer(r2["id"]),
    )
    direct = await factories.customer(None, currency="EUR")
    actors = {
        "csp": await factories.user(None),
        "reseller": await factories.user(r1),
        "customer": await factories.user(c1),
        "other_reseller": await factories.user(r2),
        "direct": await factories.user(direct),
    }
    for account in (r1, c1b, c2):  # more users, one of them only invited (no password yet)
        await factories.user(account)
    await accounts.invite_user(None, c2["id"], {"email": "invited@c2.test", "name": "Invited"}, "http://testserver")
    await accounts.record_mca_acceptance(
        actors["csp"], c1b["id"], {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@c1b.test"}
    )
    renewing = clock.now().date() + timedelta(days=20)  # on the renewals page too
    for customer in (c1, c1b, c2, direct):
        bill_to = {r1["id"]: r1, r2["id"]: r2}.get(customer["parent_id"], customer)
        sub = await billing_fixtures.subscription(customer, bill_to=bill_to, plan="annual")
        await billing_fixtures.charge(sub, "100.00")
        # a refund in the other currency: a credit note of its own for the bill-to
        other = "EUR" if bill_to["currency"] == "USD" else "USD"
        refund = await billing_fixtures.subscription(customer, bill_to=bill_to, currency=other, plan="annual")
        await billing_fixtures.charge(refund, "-10.00", charge_type="cancel")
        await db.execute("UPDATE subscriptions SET end_date = $1 WHERE customer_id = $2", renewing, customer["id"])
        await db.execute(
            "INSERT INTO orders (id, customer_id, bill_to_id, status, currency, created_at, updated_at) "
            "VALUES (gen_random_uuid(), $1, $2, 'completed', $3, now(), now())",
            customer["id"],
            bill_to["id"],
            bill_to["currency"],
        )
    await run_now()
    for account in (r1, r2, c1, c2, direct, None):
        await operations.create("test", actors["csp"], account_id=account["id"] if account else None)
    margin = {"kind": "markup_on_cost", "percent": "5"}
    await catalog.create_margin_rule(actors["csp"], {**margin, "scope": "reseller", "account_id": str(r1["id"])})
    await catalog.create_margin_rule(actors["csp"], {**margin, "scope": "customer", "account_id": str(c1["id"])})
    await catalog.create_margin_rule(actors["csp"], {**margin, "scope": "customer", "account_id": str(direct["id"])})
    await catalog.create_margin_rule(actors["reseller"], {**margin, "scope": "reseller_customers"})
    await catalog.create_margin_rule(actors["reseller"], {**margin, "scope": "customer", "account_id": str(c1["id"])})
    await catalog.create_margin_rule(
        actors["other_reseller"], {**margin, "scope": "customer", "account_id": str(c2["id"])}
    )
    return actors


async def _accounts() -> dict[uuid.UUID, AccountRef]:
    return {r["id"]: AccountRef(r["id"], r["kind"], r["parent_id"]) for r in await db.fetch("SELECT * FROM accounts")}


async def _expected(sql: str, viewer: Principal) -> set[str]:
    """The ids of the rows `sql` selects (`id`, and `account_id`: the account the row belongs to) that the viewer
    may see by can_see."""
    refs = await _accounts()
    return {str(r["id"]) for r in await db.fetch(sql) if can_see(viewer, refs[r["account_id"]])}


ROWS = {  # each list's rows and the account each belongs to
    "accounts": "SELECT id, id AS account_id FROM accounts",
    "subscriptions": "SELECT id, customer_id AS account_id FROM subscriptions",
    "orders": "SELECT id, customer_id AS account_id FROM orders",
    "invoices": "SELECT id, account_id FROM invoices WHERE kind = 'invoice'",
    "credit-notes": "SELECT id, account_id FROM invoices WHERE kind = 'credit_note'",
}


async def _walk(client: httpx.AsyncClient, path: str, headers: dict) -> list[dict]:
    """Every item of a paged API list, following the cursor."""
    items: list[dict] = []
    cursor = None
    while True:
        query = f"&cursor={cursor}" if cursor else ""
        response = await client.get(f"{path}{'&' if '?' in path else '?'}limit=2{query}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if not (cursor := body["next"]):
            return items


@pytest.mark.parametrize("role", ROLES)
async def test_api_lists_hold_exactly_what_the_caller_may_see(world, client: httpx.AsyncClient, role):
    viewer = world[role]
    headers = await factories.api_token(viewer)
    for name, sql in ROWS.items():
        expected = await _expected(sql, viewer)
        listed = [item["id"] for item in await _walk(client, f"/api/v1/{name}", headers)]
        assert len(listed) == len(set(listed)), name  # the walk neither repeats nor skips a row
        assert set(listed) == expected, name
        # the world has something for everyone to see, but a reseller's customer has no bill: its reseller has
        assert expected or (role, name) in (("customer", "invoices"), ("customer", "credit-notes")), name


@pytest.mark.parametrize("role", ROLES)
async def test_api_fetches_answer_404_outside_the_scope(world, client: httpx.AsyncClient, role):
    viewer = world[role]
    headers = await factories.api_token(viewer)
    for name, sql in ROWS.items():
        expected = await _expected(sql, viewer)
        for row in await db.fetch(sql):
            response = await client.get(f"/api/v1/{name}/{row['id']}", headers=headers)
            assert response.status_code == (200 if str(row["id"]) in expected else 404), (name, response.text)
    refs = await _accounts()
    for operation in await db.fetch("SELECT id, account_id FROM operations"):
        account = refs.get(operation["account_id"])
        # the CSP's own work (no account) is the CSP's only
        visible = role == "csp" if account is None else can_see(viewer, account)
        response = await client.get(f"/api/v1/operations/{operation['id']}", headers=headers)
        assert response.status_code == (200 if visible else 404), response.text


@pytest.mark.parametrize("role", ROLES)
async def test_users_and_charges_of_each_account(world, client: httpx.AsyncClient, role):
    viewer = world[role]
    headers = await factories.api_token(viewer)
    refs = await _accounts()
    for account_id, ref in refs.items():
        users = await client.get(f"/api/v1/accounts/{account_id}/users", headers=headers)
        charges = await client.get(f"/api/v1/accounts/{account_id}/charges?limit=200", headers=headers)
        if not can_see(viewer, ref):
            assert (users.status_code, charges.status_code) == (404, 404)
            continue
        in_db = await db.fetch("SELECT id FROM users WHERE account_id = $1", account_id)
        assert {u["id"] for u in users.json()["items"]} == {str(u["id"]) for u in in_db}
        if viewer.role == "customer_admin" and ref.parent_id is not None:
            assert charges.status_code == 403  # what a role may do: its reseller bills it
            continue
        # the account's lines as bill-to, and those of its own subscriptions on its reseller's bill
        lines = await db.fetch(
            "SELECT c.id, c.account_id, s.customer_id FROM charges c JOIN subscriptions s ON s.id = c.subscription_id "
            "WHERE c.account_id = $1 OR s.customer_id = $1",
            account_id,
        )
        assert {c["id"] for c in charges.json()["items"]} == {c["id"] for c in lines}
        assert all(can_see(viewer, refs[c["account_id"]]) or can_see(viewer, refs[c["customer_id"]]) for c in lines)


@pytest.mark.parametrize("role", ROLES)
async def test_margin_rules_are_the_owners(world, app, client: httpx.AsyncClient, role):
    """Margin rules go by owner, not by account: the CSP reads all, a reseller its own (never the CSP's about its
    customers), a customer none; and a reseller's own rules are all about accounts it may see."""
    viewer = world[role]
    response = await client.get("/api/v1/catalog/margin-rules", headers=await factories.api_token(viewer))
    if role in ("customer", "direct"):
        assert response.status_code == 403
        return
    refs = await _accounts()
    rows = await db.fetch("SELECT id, owner, account_id FROM margin_rules")
    expected = {str(r["id"]) for r in rows if role == "csp" or r["owner"] == viewer.account_id}
    assert {r["id"] for r in response.json()["items"]} == expected
    for rule in rows:
        if str(rule["id"]) in expected and rule["account_id"] is not None:
            assert can_see(viewer, refs[rule["account_id"]])
    page = await _page(await _page_client(app, viewer), "/catalog/margins")
    assert _ids(page, "/catalog/margins/", "/delete") == expected


async def _page_client(app, viewer: Principal) -> httpx.AsyncClient:
    signed = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await factories.sign_in(signed, viewer)
    return signed


async def _page(client: httpx.AsyncClient, path: str, **headers: str) -> str:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text[:300]
    return response.text


def _ids(html: str, prefix: str, suffix: str = '"') -> set[str]:
    return set(re.findall(re.escape(prefix) + f"({UUID})" + re.escape(suffix), html))


PAGES: list[tuple[str, str, str]] = [  # the page, the rows it lists, the link each row has
    ("/accounts", "accounts", "/accounts/"),
    ("/subscriptions", "subscriptions", "/subscriptions/"),
    ("/subscriptions/renewals?days=30", "subscriptions", "/subscriptions/"),
    ("/orders", "orders", "/orders/"),
    ("/invoices", "invoices", "/invoices/"),
    ("/invoices?kind=credit-notes", "credit-notes", "/invoices/"),
]


@pytest.mark.parametrize("role", ROLES)
async def test_list_pages_show_exactly_what_the_caller_may_see(world, app, role):
    viewer = world[role]
    pages = await _page_client(app, viewer)
    for path, rows, link in PAGES:
        # htmx asks for the list alone, without the navigation's links (the own account's among them)
        html = await _page(pages, path, **{"HX-Request": "true"})
        assert _ids(html, link) == await _expected(ROWS[rows], viewer), path
    # a reseller's page lists its customers; the basket offers the customers a caller may buy for
    refs = await _accounts()
    for account_id, ref in refs.items():
        if ref.kind == "reseller" and can_see(viewer, ref):
            html = await _page(pages, f"/accounts/{account_id}")
            children = {str(a) for a, r in refs.items() if r.parent_id == account_id and can_see(viewer, r)}
            assert _ids(html, "/accounts/") - {str(account_id), str(viewer.account_id)} >= children
    if role not in ("customer", "direct"):
        html = await _page(pages, "/basket")
        offered = set(re.findall(f'<option value="({UUID})"', html))
        assert offered == {str(a) for a, r in refs.items() if r.kind == "customer" and can_see(viewer, r)}


FIGURES: dict[str, Callable[[dict], bool]] = {  # the home page's counts, each over the accounts in scope
    "resellers": lambda a: a["kind"] == "reseller",
    "customers": lambda a: a["kind"] == "customer",
    "direct_customers": lambda a: a["kind"] == "customer" and a["parent_id"] is None,
    "inactive_accounts": lambda a: a["status"] != "active",
    "customers_without_mca": lambda a: a["kind"] == "customer" and not a["mca"],
}


@pytest.mark.parametrize("role", ROLES)
async def test_home_figures_count_what_the_caller_may_see(world, app, role):
    viewer = world[role]
    rows = await db.fetch(
        "SELECT a.*, EXISTS (SELECT 1 FROM mca_acceptances m WHERE m.account_id = a.id) AS mca, "
        "(SELECT count(*) FROM users u WHERE u.account_id = a.id AND u.is_active) AS users, "
        "(SELECT count(*) FROM users u WHERE u.account_id = a.id AND u.is_active AND u.password_hash IS NULL) "
        "AS pending_invitations FROM accounts a"
    )
    seen = [a for a in rows if can_see(viewer, AccountRef(a["id"], a["kind"], a["parent_id"]))]
    expected = {name: sum(1 for a in seen if keep(a)) for name, keep in FIGURES.items()}
    expected |= {
        "users": sum(a["users"] for a in seen),
        "pending_invitations": sum(a["pending_invitations"] for a in seen),
    }
    assert dict(await accounts.figures(viewer)) == expected
    html = await _page(await _page_client(app, viewer), "/")
    shown = {
        label: int(n)
        for n, label in re.findall(r'<span class="figure">(\d+)</span><span class="label">([A-Za-z ]+)</span>', html)
    }
    if role in ("customer", "direct"):
        assert shown == {"Cloudseat user" + ("s" if expected["users"] != 1 else ""): expected["users"]}
    else:
        assert shown["active users"] == expected["users"]
        assert shown["customers"] == expected["customers"]
        assert shown["customers without MCA"] == expected["customers_without_mca"]


async def test_scope_sql_agrees_with_can_see_in_postgresql(world):
    """The fragment evaluated by PostgreSQL over every account, against can_see, for every actor and for a user
    without an account."""
    refs = await _accounts()
    lost = Principal(uuid.uuid4(), "lost@example.test", "Lost", "reseller_admin", None)
    for viewer in [*world.values(), lost]:
        args: list = [list(refs)]
        fragment = scope_sql(viewer, "v.id", "v.parent_id", args)
        found = await db.fetch(f"SELECT v.id FROM accounts v WHERE v.id = ANY($1::uuid[]) AND {fragment}", *args)
        assert {r["id"] for r in found} == {a for a, ref in refs.items() if can_see(viewer, ref)}
