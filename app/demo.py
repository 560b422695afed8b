"""Demo data for `make run` and the browser tests: idempotent, so every start may run it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import NotRequired, TypedDict

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import AccountKind, Principal
from app.accounts.tables import Account, User
from app.auth.service import principal_of
from app.billing import options, payments
from app.catalog import service as catalog
from app.catalog import sync
from app.config import Settings
from app.jobs import queue
from app.orders import service as orders
from app.partner_center.connect import connect_sandbox
from app.partner_center.sandbox import catalog as sandbox_catalog


class UserSpec(TypedDict):
    email: str
    name: str


class AccountSpec(TypedDict):
    account: dict[str, str]  # the fields of the account form, as a person would type them
    user: UserSpec  # the account's admin
    billing: NotRequired[dict[str, str]]  # its billing options, as the CSP would set them on its billing page


class ResellerSpec(AccountSpec):
    customers: list[AccountSpec]


PASSWORD = "cloudseat-demo"  # noqa: S105 - the documented demo password
ADMIN: UserSpec = {"email": "admin@cloudseat.test", "name": "Casey Admin"}

RESELLERS: list[ResellerSpec] = [
    {
        "account": {
            "name": "Northwind Partners",
            "email": "billing@northwind.test",
            "country": "US",
            "currency": "USD",
            "mpn_id": "6123401",
            "address_line1": "1 Microsoft Way",
            "city": "Redmond",
            "state": "WA",
            "postal_code": "98052",
        },
        "user": {"email": "reseller@northwind.test", "name": "Riley Reseller"},
        "customers": [
            {
                "account": {
                    "name": "Contoso Dental",
                    "email": "it@contoso-dental.test",
                    "country": "US",
                    "currency": "USD",
                    "address_line1": "200 Main Street",
                    "city": "Seattle",
                    "state": "WA",
                    "postal_code": "98101",
                    "tenant_domain": "contosodental",
                },
                "user": {"email": "customer@contoso-dental.test", "name": "Chris Customer"},
            },
            {
                "account": {
                    "name": "Litware Schools",
                    "email": "it@litware.test",
                    "country": "US",
                    "currency": "USD",
                    "address_line1": "15 College Ave",
                    "city": "Austin",
                    "state": "TX",
                    "postal_code": "73301",
                    "tenant_domain": "litwareschools",
                    "qualification": "education",
                },
                "user": {"email": "admin@litware.test", "name": "Lee Litware"},
            },
            {
                # Microsoft prices a German customer in EUR; Northwind keeps its books in USD: what Northwind is
                # billed for it is converted at the CSP's rate (NCE_RULES 2, cross-currency bill-to)
                "account": {
                    "name": "Alpine Ski House GmbH",
                    "email": "it@alpineskihouse.test",
                    "country": "DE",
                    "currency": "EUR",
                    "address_line1": "Maximilianstraße 12",
                    "city": "München",
                    "postal_code": "80539",
                    "tenant_domain": "alpineskihouse",
                },
                "user": {"email": "admin@alpineskihouse.test", "name": "Anke Alpine"},
            },
        ],
    },
    {
        "account": {
            "name": "Fabrikam Cloud GmbH",
            "email": "billing@fabrikam.test",
            "country": "DE",
            "currency": "EUR",
            "mpn_id": "6567801",
            "address_line1": "Walter-Gropius-Str. 5",
            "city": "München",
            "postal_code": "80807",
        },
        "billing": {"tax_id": "DE811907980"},  # a business buyer in another EU country: reverse charge
        "user": {"email": "reseller@fabrikam.test", "name": "Frieda Fabrikam"},
        "customers": [
            {
                "account": {
                    "name": "Tailspin Toys AG",
                    "email": "it@tailspin.test",
                    "country": "DE",
                    "currency": "EUR",
                    "address_line1": "Friedrichstraße 100",
                    "city": "Berlin",
                    "postal_code": "10117",
                    # it already has a Microsoft tenant (one of the sandbox's): ordering waits for GDAP
                    "tenant_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "tailspintoys.onmicrosoft.com")),
                },
                "user": {"email": "admin@tailspin.test", "name": "Toni Tailspin"},
            },
            {
                "account": {
                    "name": "Wingtip Bistro SARL",
                    "email": "it@wingtip.test",
                    "country": "FR",
                    "currency": "EUR",
                    "address_line1": "12 rue de Rivoli",
                    "city": "Paris",
                    "postal_code": "75004",
                    "tenant_domain": "wingtipbistro",
                },
                "user": {"email": "admin@wingtip.test", "name": "Wen Wingtip"},
            },
        ],
    },
]

DIRECT: list[AccountSpec] = [
    {
        "account": {
            "name": "Adventure Works Ltd",
            "email": "it@adventure-works.test",
            "country": "GB",
            "currency": "GBP",
            "address_line1": "10 Downing Street",
            "city": "London",
            "postal_code": "SW1A 2AA",
            "tenant_domain": "adventureworksltd",
        },
        "user": {"email": "customer@adventure-works.test", "name": "Alex Adventure"},
    },
    {
        "account": {
            "name": "Proseware Inc",
            "email": "accounts@proseware.test",
            "country": "US",
            "currency": "USD",
            "address_line1": "400 Pine Street",
            "city": "Seattle",
            "state": "WA",
            "postal_code": "98101",
            "tenant_domain": "prosewareinc",
        },
        "user": {"email": "customer@proseware.test", "name": "Pat Proseware"},
    },
]


async def _admin(base_url: str) -> Principal:
    user = await User.select().where(User.email == ADMIN["email"]).first().run()
    if user is None:
        await accounts.invite_user(None, None, ADMIN, base_url, password=PASSWORD)
        user = await User.select().where(User.email == ADMIN["email"]).first().run()
        assert user is not None, "invite_user has just created the admin"
    return principal_of(user)


async def _account(
    actor: Principal, spec: AccountSpec, kind: AccountKind, reseller_id: uuid.UUID | None = None
) -> dict:
    existing = (
        await Account.select().where((Account.name == spec["account"]["name"]) & (Account.kind == kind)).first().run()
    )
    if existing is None:
        if kind == "reseller":
            existing = await accounts.create_reseller(actor, spec["account"])
        else:
            existing = await accounts.create_customer(actor, {**spec["account"], "reseller_id": reseller_id})
        if "billing" in spec:
            await options.set_billing_options(actor, existing["id"], spec["billing"])
    return existing


async def _user(actor: Principal, account: dict, spec: UserSpec, base_url: str) -> None:
    if not await User.exists().where(User.email == spec["email"]).run():
        await accounts.invite_user(actor, account["id"], spec, base_url, password=PASSWORD)


async def _reseller_discount(actor: Principal, reseller: dict) -> None:
    """The CSP sells to its demo resellers at 15% off Microsoft's retail price, so they have room for their own
    margin on their customers."""
    if not await db.fetchval("SELECT 1 FROM margin_rules WHERE scope = 'reseller' AND account_id = $1", reseller["id"]):
        await catalog.create_margin_rule(
            actor, {"scope": "reseller", "account_id": str(reseller["id"]), "kind": "discount_off_erp", "percent": "15"}
        )


SELLER = {
    "seller_name": "Cloudseat Demo CSP B.V.",
    "seller_address": "Herengracht 100, 1015 BS Amsterdam",
    "seller_country": "NL",
    "seller_tax_id": "NL123456789B01",
    "payment_instructions": "Bank transfer to IBAN NL91 ABNA 0417 1643 00 (BIC ABNANL2A), or by card online.",
}
# EU VAT: the Dutch rate at home, reverse charge for business buyers elsewhere in the EU; the UK's VAT is
# self-accounted by a UK business buying services from abroad; US buyers are invoiced without tax
TAX_RATES = [
    {"country": "NL", "label": "BTW", "rate": "21", "reverse_charge": False},
    {"country": "DE", "label": "USt", "rate": "19", "reverse_charge": True},
    {"country": "FR", "label": "TVA", "rate": "20", "reverse_charge": True},
    {"country": "GB", "label": "VAT", "rate": "20", "reverse_charge": True},
]


# the CSP's rates for its resellers that keep their books in another currency than their customers' markets
FX_RATES = [("EUR", "USD", "1.0823"), ("USD", "EUR", "0.9240"), ("GBP", "USD", "1.2710"), ("GBP", "EUR", "1.1745")]


async def _billing(actor: Principal) -> None:
    """The demo CSP as the seller on its invoices, and its tax rates, once."""
    if (await options.settings())["seller_name"]:
        return
    await options.update_seller(actor, SELLER)
    for rate in TAX_RATES:
        await options.set_tax_rate(actor, rate)
    for source, target, fx in FX_RATES:
        await catalog.add_fx_rate(actor, {"from": source, "to": target, "rate": fx, "effective_from": "2026-01-01"})


async def seed(base_url: str) -> list[tuple[str, str, str]]:
    """Create the demo CSP (idempotent) and return the logins as (role, email, account)."""
    admin = await _admin(base_url)
    await _billing(admin)
    logins = [("CSP admin", ADMIN["email"], "the CSP")]
    for spec in RESELLERS:
        reseller = await _account(admin, spec, "reseller")
        await _user(admin, reseller, spec["user"], base_url)
        await _reseller_discount(admin, reseller)
        logins.append(("Reseller admin", spec["user"]["email"], reseller["name"]))
        for customer_spec in spec["customers"]:
            customer = await _account(admin, customer_spec, "customer", reseller["id"])
            await _user(admin, customer, customer_spec["user"], base_url)
            logins.append(("Customer admin", customer_spec["user"]["email"], customer["name"]))
    for direct in DIRECT:
        customer = await _account(admin, direct, "customer")
        await _user(admin, customer, direct["user"], base_url)
        logins.append(("Customer admin (direct)", direct["user"]["email"], customer["name"]))
    return logins


async def seed_sandbox_partner_center(settings: Settings) -> None:
    """Sandbox mode: the demo CSP is connected to the sandbox Partner Center, sells in every market the sandbox
    prices, and its first catalog sync is queued (the worker runs it as the app starts)."""
    admin = await _admin(settings.base_url)
    await connect_sandbox(settings, admin)
    markets = list(sandbox_catalog.MARKETS)
    currencies = sorted(set(sandbox_catalog.MARKETS.values()))
    await db.execute(
        "UPDATE catalog_settings SET markets = $1, currencies = $2, updated_at = $3 "
        "WHERE id = 1 AND markets = '{US}' AND currencies = '{USD}'",
        markets,
        currencies,
        clock.now(),
    )
    await _fabrikam_card(settings)
    if not await db.fetchval("SELECT 1 FROM catalog_sync_runs LIMIT 1"):
        await sync.request_sync(admin)
    await queue.enqueue(DEMO_ORDERS, {"waited": 0}, dedupe_key=DEMO_ORDERS)


async def _fabrikam_card(settings: Settings) -> None:
    """Fabrikam pays by the sandbox's test card, automatically; Proseware has no card, so its invoices wait for a
    person to pay them (and the non-payment rules show what happens when nobody does)."""
    user = await User.select().where(User.email == "reseller@fabrikam.test").first().run()
    if user is None or await db.fetchval("SELECT 1 FROM payment_methods WHERE account_id = $1", user["account_id"]):
        return
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": str(clock.now().year + 4), "cvc": "123"}
    await payments.save_card(principal_of(user), user["account_id"], card, settings)


DEMO_ORDERS = "demo_orders"
DEMO_CUSTOMER = "Wingtip Bistro SARL"
# what Fabrikam has sold Wingtip, so the subscription pages, the renewal calendar and a moved clock have
# something to show: a monthly-billed year, and a year paid upfront
DEMO_LINES = [
    {"offer_id": "CFQ7TTC0LH18:0001", "quantity": 12, "term": "P1Y", "billing_plan": "monthly"},  # Business Basic
    {"offer_id": "CFQ7TTC0LH16:0001", "quantity": 4, "term": "P1Y", "billing_plan": "annual"},  # Exchange Plan 1
]
# a direct customer buys for itself, so it has invoices of its own to read and pay by card
DIRECT_CUSTOMER = "Proseware Inc"
DIRECT_LINES = [{"offer_id": "CFQ7TTC0LH18:0001", "quantity": 8, "term": "P1Y", "billing_plan": "monthly"}]
WAIT_SECONDS = 3
MAX_WAITS = 200  # ten minutes for the first catalog sync


async def place_demo_orders(payload: dict, settings: Settings) -> None:
    """Once the first catalog sync has prices, Fabrikam orders for Wingtip (its MCA attested), and the worker
    provisions it at the sandbox like any order. Done once: a customer with orders is left alone."""
    if not await db.fetchval("SELECT 1 FROM catalog_sync_runs WHERE status = 'completed'"):
        if payload["waited"] < MAX_WAITS:  # the sync is still running: look again shortly
            await queue.enqueue(DEMO_ORDERS, {"waited": payload["waited"] + 1}, delay=timedelta(seconds=WAIT_SECONDS))
        return
    for customer_name, buyer_email, signer, lines in (
        (DEMO_CUSTOMER, "reseller@fabrikam.test", ("Wen", "Wingtip", "admin@wingtip.test"), DEMO_LINES),
        (DIRECT_CUSTOMER, "customer@proseware.test", ("Pat", "Proseware", "customer@proseware.test"), DIRECT_LINES),
    ):  # fmt: skip
        customer = await Account.select().where(Account.name == customer_name).first().run()
        if customer is None or await db.fetchval("SELECT 1 FROM orders WHERE customer_id = $1", customer["id"]):
            continue
        user = await User.select().where(User.email == buyer_email).first().run()
        assert user is not None, "seed created the buyer's user"
        buyer = principal_of(user)
        if await accounts.latest_mca(customer["id"]) is None:
            first, last, email = signer
            await accounts.record_mca_acceptance(
                buyer, customer["id"], {"first_name": first, "last_name": last, "email": email}
            )
        await orders.place_order(buyer, {"customer_id": str(customer["id"]), "lines": lines})


HANDLERS = {DEMO_ORDERS: place_demo_orders}
