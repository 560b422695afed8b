"""Catalog use cases: browse offers, price them for a viewer, manage FX rates and margin rules.

Prices are decided in rules.py; this module only gathers what the rules need with indexed queries.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from app import clock, db
from app.accounts.rules import AccountRef, Principal, can_see, sees_everything
from app.audit import service as audit
from app.catalog import rules
from app.catalog.tables import CatalogSettings, FxRate, MarginRule
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.money import decimal_within, minor_units

KINDS = ("license", "software_subscription", "perpetual", "trial")
SEGMENTS = ("commercial", "education", "government", "nonprofit")


async def catalog_settings() -> dict:
    row = await CatalogSettings.select().where(CatalogSettings.id == 1).first().run()
    assert row is not None, "m0005 inserts the settings row"
    return row


def _search_query(q: str) -> str | None:
    """Search as you type: every word a prefix ("busi prem" finds Business Premium)."""
    words = re.findall(r"[\w]+", q.lower())
    return " & ".join(f"{w}:*" for w in words) or None


# the plans an offer can be bought with: the price rows still in the sheet, now or later
PLANS_SQL = """
coalesce((SELECT jsonb_agg(DISTINCT jsonb_build_object('term', p.term, 'billing_plan', p.billing_plan))
          FROM catalog_prices p WHERE p.offer_id = o.id AND p.removed_run_id IS NULL AND p.effective_end >= $1),
         '[]') AS plans
"""


async def list_offers(
    *,
    q: str = "",
    kind: str | None = None,
    segment: str | None = None,
    addon: bool | None = None,
    publisher: str | None = None,
    term: str | None = None,
    include_discontinued: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int]:
    if kind is not None and kind not in KINDS:
        raise Invalid({"kind": f"kind is one of {', '.join(KINDS)}."})
    if segment is not None and segment not in SEGMENTS:
        raise Invalid({"segment": f"segment is one of {', '.join(SEGMENTS)}."})
    where = ["($2::text IS NULL OR o.search @@ to_tsquery('simple', $2))"]
    where += ["($3::text IS NULL OR o.kind = $3)", "($4::text IS NULL OR o.segment = $4)"]
    where += ["($5::boolean IS NULL OR o.is_addon = $5)", "($6::text IS NULL OR o.publisher = $6)"]
    where += ["($7::boolean OR o.status = 'active')"]
    where += [
        "($8::text IS NULL OR EXISTS (SELECT 1 FROM catalog_prices p WHERE p.offer_id = o.id AND p.term = $8 "
        "AND p.removed_run_id IS NULL AND p.effective_end >= $1))"
    ]
    args = [clock.now(), _search_query(q), kind, segment, addon, publisher, include_discontinued, term]
    rows = await db.fetch(
        f"SELECT o.*, {PLANS_SQL}, count(*) OVER () AS total FROM catalog_offers o WHERE {' AND '.join(where)} "
        f"ORDER BY lower(o.title), o.id LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    if rows:
        return rows, rows[0]["total"]
    # past the last page the window is empty: count without it
    total = await db.fetchval(f"SELECT count(*) FROM catalog_offers o WHERE {' AND '.join(where)}", *args)
    return rows, int(total)  # type: ignore[call-overload]


async def get_offer(offer_id: str) -> dict:
    rows = await db.fetch(f"SELECT o.*, {PLANS_SQL} FROM catalog_offers o WHERE o.id = $2", clock.now(), offer_id)
    if not rows:
        raise NotFound("This offer is not in the catalog.")
    return rows[0]


# --- Pricing ----------------------------------------------------------------------------------------------


async def _account(viewer: Principal, account_id: uuid.UUID) -> dict:
    rows = await db.fetch("SELECT * FROM accounts WHERE id = $1", account_id)
    if not rows or not can_see(viewer, AccountRef(rows[0]["id"], rows[0]["kind"], rows[0]["parent_id"])):
        raise NotFound("This account was not found.")
    return rows[0]


def buyer_of(account: dict) -> rules.Buyer:
    """A customer account as a buyer: its market, currency, segment, reseller and billing options."""
    return rules.Buyer(
        country=account["country"],
        currency=account["currency"],
        qualification=account["qualification"],
        customer_id=str(account["id"]),
        reseller_id=str(account["parent_id"]) if account["parent_id"] else None,
        monthly_surcharge_percent=account["monthly_surcharge_percent"],
    )


async def buyer_for(viewer: Principal, customer_id: uuid.UUID | None) -> rules.Buyer:
    """Whose price to show: the named customer, the viewer's own company, or (CSP browsing) the home market."""
    settings = await catalog_settings()
    if customer_id is None and viewer.role == "customer_admin" and viewer.account_id:
        customer_id = viewer.account_id
    if customer_id is not None:
        account = await _account(viewer, customer_id)
        if account["kind"] != "customer":
            raise Invalid({"customer_id": "customer_id names a customer account."})
        return buyer_of(account)
    if viewer.role == "reseller_admin" and viewer.account_id:
        reseller = await _account(viewer, viewer.account_id)
        return rules.Buyer(country=reseller["country"], currency=reseller["currency"], reseller_id=str(reseller["id"]))
    # the CSP browsing: its home market, in the currency Microsoft prices that market in
    market = settings["markets"][0]
    currency = await db.fetchval("SELECT currency FROM catalog_prices WHERE market = $1 LIMIT 1", market)
    return rules.Buyer(country=market, currency=str(currency or settings["currencies"][0]))


async def _pricing(viewer: Principal, offer_id: str, customer_id: uuid.UUID | None) -> tuple[dict, rules.Buyer, dict]:
    """The offer (still sold), whose price it is, and the CSP's settings: what every price needs first."""
    offer = await get_offer(offer_id)
    if offer["status"] != "active":
        raise Conflict("offer_discontinued", "This offer is no longer sold.")
    buyer = await buyer_for(viewer, customer_id)
    settings = await catalog_settings()
    if buyer.currency not in settings["currencies"]:
        raise Conflict("currency_not_sold", f"Prices in {buyer.currency} are not offered.")
    return offer, buyer, settings


async def price_json(
    viewer: Principal, offer_id: str, *, term: str, billing_plan: str, customer_id: uuid.UUID | None = None
) -> dict:
    """The API's price for a viewer. Cost and margin are the viewer's own: for the CSP, what it charges the
    bill-to account against Microsoft's cost; for a reseller, its customer's price against what the CSP charges
    the reseller; nothing for a customer. Microsoft's cost is the CSP's business."""
    offer, buyer, settings = await _pricing(viewer, offer_id, customer_id)
    quote = await quote_for(
        offer, buyer, term=term, billing_plan=billing_plan, at=clock.now(), settings=settings, resale=resale(viewer)
    )
    body = quote_json(quote)
    if viewer.role == "customer_admin" or (viewer.role == "reseller_admin" and customer_id is None):
        return {**body, "cost": None, "margin": None, "explanation": []}
    return body


def resale(viewer: Principal) -> bool:
    """Whether the viewer sees a reseller's customer's price (the reseller and the customer) or what the CSP
    bills the reseller (the CSP)."""
    return viewer.role != "csp_admin"


# everything one price needs, in one round trip: the plan's rows in force, the margin rules that may apply, the
# FX rates into the buyer's currency, and Microsoft's automatic promotions for the plan in the buyer's market
# and the seat count ($9: one seat for a unit price, the line's seats for an order). Promotions for a first
# purchase are not automatic: they are named on the cart.
QUOTE_INPUTS_SQL = """
SELECT
  ARRAY(SELECT ROW(market, currency, segment, term, billing_plan, unit_price, erp_price, effective_start,
                   effective_end)
        FROM catalog_prices WHERE offer_id = $1 AND term = $2 AND billing_plan = $3 AND segment = $4
          AND removed_run_id IS NULL AND effective_start <= $5 AND effective_end >= $5) AS rows,
  ARRAY(SELECT ROW(scope, kind, percent, account_id::text, offer_id, allow_below_cost, owner::text) FROM margin_rules
        WHERE (offer_id IS NULL OR offer_id = $1) AND (scope = 'product' OR account_id = ANY($6::uuid[]))) AS margins,
  ARRAY(SELECT ROW(from_currency, to_currency, effective_from, rate) FROM fx_rates WHERE to_currency = $7) AS fx,
  ARRAY(SELECT ROW(p.id, (x->>'percent')::numeric)
        FROM catalog_promotions p, jsonb_array_elements(p.products) x
        WHERE p.market = $8 AND p.auto_applicable AND NOT p.first_purchase_only
          AND coalesce(p.min_seats, 1) <= $9 AND (p.max_seats IS NULL OR $9 <= p.max_seats)
          AND p.starts_at <= $5 AND p.ends_at >= $5
          AND p.products @> jsonb_build_array(jsonb_build_object('offer_id', $1::text))
          AND x->>'offer_id' = $1 AND x->>'term' = $2 AND x->>'billing_plan' = $3) AS promotions
"""


async def quote_for(
    offer: dict,
    buyer: rules.Buyer,
    *,
    term: str,
    billing_plan: str,
    at: datetime,
    settings: dict,
    resale: bool = True,
    seats: int = 1,
) -> rules.Quote:
    """One offer's price for `buyer`. A reseller's customer: what the customer pays (`resale`), or what the CSP
    bills the reseller."""
    billed, paid = await quote_layers(
        offer, buyer, term=term, billing_plan=billing_plan, at=at, settings=settings, seats=seats
    )
    return paid if resale else billed


async def quote_layers(
    offer: dict,
    buyer: rules.Buyer,
    *,
    term: str,
    billing_plan: str,
    at: datetime,
    settings: dict,
    seats: int = 1,
) -> tuple[rules.Quote, rules.Quote]:
    """Gather the rows, rules, rates and promotions for one offer and buyer in one round trip, and let the
    rules decide: (what the bill-to pays, what the customer pays). They differ only for a reseller's customer,
    whose reseller's own rule goes on top of what the CSP bills the reseller (priced by the CSP's rules only)."""
    inputs = (
        await db.fetch(
            QUOTE_INPUTS_SQL,
            offer["id"],
            term,
            billing_plan,
            offer["segment"],
            at,
            [a for a in (buyer.customer_id, buyer.reseller_id) if a],
            buyer.currency,
            buyer.country,
            seats,
        )
    )[0]
    margins = [rules.MarginRule(*r) for r in inputs["margins"]]
    resold = buyer.reseller_id is not None and buyer.customer_id is not None
    bought = rules.quote(
        offer["id"],
        offer_segment=offer["segment"],
        term=term,
        billing_plan=billing_plan,
        rows=[rules.PriceRow(*r) for r in inputs["rows"]],
        buyer=buyer,
        at=at,
        margin_rules=margins,
        default_margin=rules.MarginRule("global", settings["default_margin_kind"], settings["default_margin_percent"]),
        fx_rates=[rules.FxRate(*r) for r in inputs["fx"]],
        promotions=[rules.Promotion(*r) for r in inputs["promotions"]],
        markets=list(settings["markets"]),
        highest_across_markets=offer["kind"] == "software_subscription" and buyer.customer_id is None,
    )
    if not resold:
        return bought, bought
    own = rules.margin_rule(margins, offer["id"], buyer, default=None, owner=buyer.reseller_id)
    return bought, rules.resell(bought, own, buyer)


async def quote_holder(
    account: dict, offer: dict, *, term: str, billing_plan: str, at: datetime, seats: int, settings: dict
) -> tuple[rules.Quote, rules.Quote]:
    """`quote_layers` for a customer that already holds a subscription of the offer's family (a renewal, an upgrade,
    an import): priced in the offer's segment, since Microsoft qualified the customer when it first bought."""
    buyer = dataclasses.replace(buyer_of(account), qualification=offer["segment"])
    return await quote_layers(offer, buyer, term=term, billing_plan=billing_plan, at=at, settings=settings, seats=seats)


def plain(value: Decimal) -> str:
    """A rate without trailing zeros or exponent: 0.95, 100, 151.2."""
    return format(value.normalize(), "f")


def quote_json(quote: rules.Quote) -> dict:
    """API.md Catalog: amounts per `per` (the term, or one month of a monthly plan) as strings."""
    months = rules.TERM_MONTHS.get(quote.term, 1) if quote.per == "month" else 1

    def money(value: Decimal) -> str:
        places = Decimal(1).scaleb(-minor_units(quote.currency))
        return str((value / months).quantize(places))

    return {
        "offer_id": quote.offer_id,
        "term": quote.term,
        "billing_plan": quote.billing_plan,
        "unit_price": str(quote.per_month) if quote.per_month is not None else money(quote.unit_price),
        "term_price": money(quote.unit_price * months),
        "currency": quote.currency,
        "cost": money(quote.cost),
        "erp": money(quote.erp),
        "margin": money(quote.margin),
        "surcharge": money(quote.surcharge),
        "promotion": {"id": quote.promotion.id, "percent": str(quote.promotion.percent)} if quote.promotion else None,
        "per": quote.per,
        "market": quote.market,
        "fx_rate": plain(quote.fx_rate) if quote.fx_rate is not None else None,
        "explanation": list(quote.explanation),
    }


# --- FX rates (csp_admin) ----------------------------------------------------------------------------------


async def list_fx_rates() -> list[dict]:
    return await FxRate.select().order_by(FxRate.from_currency, FxRate.to_currency, FxRate.effective_from).run()


def _parse_rate(n: int, item: object) -> tuple[str, str, date, Decimal]:
    if not isinstance(item, dict) or set(item) != {"from", "to", "rate", "effective_from"}:
        raise Invalid({f"[{n}]": "Each rate is {from, to, rate, effective_from}."})
    rate = decimal_within(item["rate"], integer_digits=10, places=8)  # fx_rates.rate is numeric(18, 8)
    if rate is None:
        raise Invalid({f"[{n}].rate": "rate is a positive number with at most 8 decimals."})
    try:
        effective = date.fromisoformat(str(item["effective_from"]))
    except ValueError:
        raise Invalid({f"[{n}].effective_from": "effective_from is a date (YYYY-MM-DD)."}) from None
    source, target = str(item["from"]).upper(), str(item["to"]).upper()
    if not (re.fullmatch(r"[A-Z]{3}", source) and re.fullmatch(r"[A-Z]{3}", target)) or source == target:
        raise Invalid({f"[{n}].from": "from and to are two different ISO currency codes."})
    if rate <= 0:
        raise Invalid({f"[{n}].rate": "rate is a positive number."})
    return source, target, effective, rate


async def replace_fx_rates(actor: Principal, items: object) -> list[dict]:
    """PUT: the list becomes the rate table (history included: each rate has its effective date)."""
    if actor.role != "csp_admin":
        raise Forbidden()
    if not isinstance(items, list):
        raise Invalid({"body": "Send a list of rates."})
    parsed = [_parse_rate(n, item) for n, item in enumerate(items)]
    if len({p[:3] for p in parsed}) != len(parsed):
        raise Invalid({"body": "Each currency pair has one rate per effective date."})
    before = await list_fx_rates()
    async with db.transaction():
        await db.execute("DELETE FROM fx_rates")
        await db.execute(
            "INSERT INTO fx_rates (from_currency, to_currency, effective_from, rate, created_at) "
            "SELECT f, t, e, r, $5 FROM unnest($1::text[], $2::text[], $3::date[], $4::numeric[]) AS x(f, t, e, r)",
            [p[0] for p in parsed],
            [p[1] for p in parsed],
            [p[2] for p in parsed],
            [p[3] for p in parsed],
            clock.now(),
        )
        await audit.record(
            actor, "catalog", "fx_rates", "replaced", before={"count": len(before)}, after={"count": len(parsed)}
        )
    return await list_fx_rates()


def fx_json(row: dict) -> dict:
    return {
        "from": row["from_currency"],
        "to": row["to_currency"],
        "rate": plain(row["rate"]),
        "effective_from": row["effective_from"].isoformat(),
    }


# --- Margin rules (csp_admin; reseller_admin for its own customers) ----------------------------------------
# Rules belong to whoever made them (NCE_RULES 2): `owner` NULL is the CSP, else the reseller. A reseller sees and
# changes only its own; the CSP's rules about a reseller (what it bills it) are the CSP's business.

MARGIN_RULES_SQL = """
SELECT m.*, a.name AS account_name, o.name AS owner_name, c.title AS offer_title
  FROM margin_rules m
  LEFT JOIN accounts a ON a.id = m.account_id
  LEFT JOIN accounts o ON o.id = m.owner
  LEFT JOIN catalog_offers c ON c.id = m.offer_id
 WHERE ($1::uuid IS NULL OR m.owner = $1) AND ($2::uuid IS NULL OR m.id = $2)
 ORDER BY m.owner IS NOT NULL, o.name, array_position(ARRAY['product', 'reseller', 'reseller_customers', 'customer'],
          m.scope), a.name, m.offer_id NULLS FIRST, m.created_at
"""


async def list_margin_rules(viewer: Principal, rule_id: uuid.UUID | None = None) -> list[dict]:
    """The CSP: every rule, whoever owns it. A reseller: its own, never the CSP's rules about it or its customers."""
    if viewer.role == "customer_admin":
        raise Forbidden("Margins are set by your reseller or the CSP.")
    # ownership, not the account scope: a reseller never reads the CSP's rules about its own customers
    owner = None if sees_everything(viewer) else viewer.account_id
    return await db.fetch(MARGIN_RULES_SQL, owner, rule_id)


async def create_margin_rule(actor: Principal, body: dict) -> dict:
    scope = body.get("scope")
    if scope not in ("customer", "reseller", "product", "reseller_customers"):
        raise Invalid({"scope": "scope is customer, reseller, product or reseller_customers."})
    kind = body.get("kind")
    if kind not in rules.MARGIN_KINDS:
        raise Invalid({"kind": "kind is markup_on_cost or discount_off_erp."})
    try:
        percent = Decimal(str(body.get("percent")))
    except InvalidOperation:
        raise Invalid({"percent": 'percent is a number, e.g. "12.5".'}) from None
    if not percent.is_finite() or not Decimal(-100) <= percent <= Decimal(1000):
        raise Invalid({"percent": "percent is between -100 and 1000."})
    offer_id = body.get("offer_id")
    if offer_id is not None:
        await get_offer(str(offer_id))
    if actor.role == "customer_admin" or (actor.role == "reseller_admin" and scope in ("reseller", "product")):
        raise Forbidden("Resellers set margins for their own customers only.")
    if actor.role == "csp_admin" and scope == "reseller_customers":
        # the CSP's rule about a reseller is scope `reseller`; `reseller_customers` is the reseller's own default
        raise Invalid({"scope": "Only a reseller sets a default for all its customers; the CSP's is a reseller rule."})
    owner = actor.account_id if actor.role == "reseller_admin" else None
    account_id = None
    if scope == "product":
        if offer_id is None or body.get("account_id") is not None:
            raise Invalid({"offer_id": "A product rule names an offer_id and no account."})
    elif scope == "reseller_customers":
        if body.get("account_id") not in (None, str(owner)):
            raise Invalid({"account_id": "A rule for all your customers is yours: leave account_id out."})
        if offer_id is not None:
            raise Invalid({"offer_id": "A rule for all your customers covers every offer; name a customer for one."})
        account_id = owner
    else:
        try:
            account_id = uuid.UUID(str(body.get("account_id")))
        except ValueError:
            raise Invalid({"account_id": f"A {scope} rule names its account_id."}) from None
        account = await _account(actor, account_id)
        if account["kind"] != scope:
            raise Invalid({"account_id": f"account_id names a {scope}."})
    allow_below_cost = body.get("allow_below_cost", False)
    if not isinstance(allow_below_cost, bool):
        raise Invalid({"allow_below_cost": "allow_below_cost is true or false."})
    async with db.transaction():
        row = MarginRule(
            id=uuid.uuid4(),
            scope=scope,
            account_id=account_id,
            offer_id=offer_id,
            kind=kind,
            percent=percent,
            allow_below_cost=allow_below_cost,
            owner=owner,
            created_by=actor.user_id,
            created_at=clock.now(),
        )
        # the unique index on the rule's scope is the one conflict: the same rule exists already
        rows = await MarginRule.insert(row).on_conflict(action="DO NOTHING").returning(MarginRule.id).run()
        if not rows:
            raise Conflict("margin_rule_exists", "A margin rule for this scope already exists; delete it first.")
        [rule] = await list_margin_rules(actor, rows[0]["id"])
        await audit.record(actor, "margin_rule", rule["id"], "created", after=margin_json(rule))
    return rule


async def delete_margin_rule(actor: Principal, rule_id: uuid.UUID) -> None:
    """The CSP deletes any rule; a reseller only its own (another's, the CSP's included, is not found)."""
    if actor.role == "customer_admin":
        raise Forbidden("Resellers set margins for their own customers only.")
    found = await list_margin_rules(actor, rule_id)
    if not found:
        raise NotFound("This margin rule was not found.")
    async with db.transaction():
        await MarginRule.delete().where(MarginRule.id == rule_id).run()
        await audit.record(actor, "margin_rule", rule_id, "deleted", before=margin_json(found[0]))


def margin_json(row: dict) -> dict:
    """API.md Catalog, with the names of its owner (null: the CSP), account and offer to read it by."""
    return {
        "id": str(row["id"]),
        "owner": str(row["owner"]) if row["owner"] else "csp",
        "scope": row["scope"],
        "account_id": str(row["account_id"]) if row["account_id"] else None,
        "offer_id": row["offer_id"],
        "kind": row["kind"],
        "percent": str(row["percent"]),
        "allow_below_cost": row["allow_below_cost"],
        "owner_name": row["owner_name"],
        "account_name": row["account_name"],
        "offer_title": row["offer_title"],
    }


def offer_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "product_id": row["product_id"],
        "sku_id": row["sku_id"],
        "title": row["title"],
        "product_title": row["product_title"],
        "description": row["description"],
        "publisher": row["publisher"],
        "kind": row["kind"],
        "segment": row["segment"],
        "status": row["status"],
        "is_addon": row["is_addon"],
        "prerequisites": list(row["prerequisites"]),
        "upgrade_targets": list(row["upgrade_targets"]),
        "min_quantity": row["min_quantity"],
        "max_quantity": row["max_quantity"],
        "plans": sorted(plans_of(row), key=lambda p: (p["term"], p["billing_plan"])),
    }


def plans_of(row: dict) -> list[dict]:
    """The terms and plans an offer row (selected with PLANS_SQL) is sold with."""
    plans = row.get("plans") or []
    return json.loads(plans) if isinstance(plans, str) else list(plans)


# --- What the pages need beyond the API ---------------------------------------------------------------------

TERM_LABELS = {"P1M": "1 month", "P1Y": "1 year", "P3Y": "3 years", "": "Perpetual"}
PLAN_LABELS = {
    "monthly": "Paid monthly",
    "annual": "Paid yearly",
    "triennial": "Paid upfront",
    "one_time": "One payment",
    "none": "Free",
}


async def _viewer_prices(
    viewer: Principal, customer_id: uuid.UUID | None
) -> Callable[[dict, dict], Awaitable[rules.Quote]]:
    """Prices for a page: the viewer's (or its chosen customer's), all at this moment."""
    buyer = await buyer_for(viewer, customer_id)
    settings = await catalog_settings()
    at = clock.now()

    async def price(offer: dict, plan: dict) -> rules.Quote:
        return await quote_for(
            offer,
            buyer,
            term=plan["term"],
            billing_plan=plan["billing_plan"],
            at=at,
            settings=settings,
            resale=resale(viewer),
        )

    return price


async def price_table(viewer: Principal, offer: dict, customer_id: uuid.UUID | None) -> list[dict]:
    """One row per plan the offer is sold with: the viewer's price, or why there is none."""
    price = await _viewer_prices(viewer, customer_id)
    table = []
    for plan in sorted(plans_of(offer), key=lambda p: (p["term"], p["billing_plan"])):
        row = {**plan, "term_label": TERM_LABELS.get(plan["term"], plan["term"])}
        row["plan_label"] = PLAN_LABELS.get(plan["billing_plan"], plan["billing_plan"])
        try:
            row["quote"] = quote_json(await price(offer, plan))
        except rules.PriceUnavailable as refused:
            row["refused"] = str(refused)
        table.append(row)
    return table


async def headline_prices(viewer: Principal, offers: list[dict], customer_id: uuid.UUID | None) -> dict[str, dict]:
    """For a list: each offer's lowest monthly-equivalent price for the viewer (the "from" price)."""
    price = await _viewer_prices(viewer, customer_id)
    found: dict[str, dict] = {}
    for offer in offers:
        for plan in plans_of(offer):
            try:
                quote = await price(offer, plan)
            except rules.PriceUnavailable:
                continue
            months = rules.TERM_MONTHS.get(plan["term"], 1)
            monthly = quote.unit_price / months
            if offer["id"] not in found or monthly < found[offer["id"]]["monthly"]:
                found[offer["id"]] = {"monthly": monthly, "quote": quote_json(quote), "per_month": months > 1}
    return found


async def price_history(offer_id: str, market: str) -> list[dict]:
    return await db.fetch(
        "SELECT * FROM catalog_prices WHERE offer_id = $1 AND market = $2 "
        "ORDER BY term, billing_plan, effective_start DESC",
        offer_id,
        market,
    )


async def offer_titles(ids: list[str]) -> dict[str, str]:
    rows = await db.fetch("SELECT id, title FROM catalog_offers WHERE id = ANY($1::text[])", ids)
    return {r["id"]: r["title"] for r in rows}


async def last_run_id() -> int | None:
    return await db.fetchval("SELECT max(id) FROM catalog_sync_runs WHERE status = 'completed'")  # type: ignore[return-value]


def offer_status(offer: dict, run_id: int | None) -> str:
    """What the latest completed sync did to the offer: new, changed, discontinued, or nothing."""
    if offer["status"] == "discontinued":
        return "discontinued"
    if run_id is not None and offer["first_run_id"] == run_id:
        return "new"
    if run_id is not None and offer["changed_run_id"] == run_id:
        return "changed"
    return ""


async def sync_runs(limit: int = 20) -> list[dict]:
    rows = await db.fetch("SELECT * FROM catalog_sync_runs ORDER BY id DESC LIMIT $1", limit)
    return [{**r, "counts": json.loads(r["counts"]) if isinstance(r["counts"], str) else r["counts"]} for r in rows]


async def promotions_in_force() -> list[dict]:
    return await db.fetch(
        "SELECT id, name, description, starts_at, ends_at, auto_applicable, first_purchase_only, min_seats, max_seats, "
        "array_agg(market ORDER BY market) AS markets, min(products::text) AS products FROM catalog_promotions "
        "WHERE starts_at <= $1 AND ends_at >= $1 GROUP BY id, name, description, starts_at, ends_at, "
        "auto_applicable, first_purchase_only, min_seats, max_seats ORDER BY name",
        clock.now(),
    )


async def update_settings(actor: Principal, values: dict) -> dict:
    """The markets and currencies the CSP sells in, and its default margin."""
    if actor.role != "csp_admin":
        raise Forbidden()
    markets = [m.strip().upper() for m in str(values.get("markets", "")).replace(",", " ").split() if m.strip()]
    currencies = [c.strip().upper() for c in str(values.get("currencies", "")).replace(",", " ").split() if c.strip()]
    errors = {}
    if not markets or not all(re.fullmatch(r"[A-Z]{2}", m) for m in markets):
        errors["markets"] = "List the countries you sell in as two-letter codes, e.g. US GB DE."
    if not currencies or not all(re.fullmatch(r"[A-Z]{3}", c) for c in currencies):
        errors["currencies"] = "List the currencies you invoice in as ISO codes, e.g. USD GBP EUR."
    kind = values.get("default_margin_kind")
    if kind not in rules.MARGIN_KINDS:
        errors["default_margin_kind"] = "Choose markup on cost or discount off ERP."
    try:
        percent = Decimal(str(values.get("default_margin_percent", "")))
        if not percent.is_finite() or not Decimal(-100) <= percent <= Decimal(1000):
            raise InvalidOperation
    except InvalidOperation:
        errors["default_margin_percent"] = "The default margin is a percentage between -100 and 1000."
        percent = Decimal(0)
    if errors:
        raise Invalid(errors)
    before = await catalog_settings()
    async with db.transaction():
        await (
            CatalogSettings.update(
                {
                    CatalogSettings.markets: list(dict.fromkeys(markets)),
                    CatalogSettings.currencies: list(dict.fromkeys(currencies)),
                    CatalogSettings.default_margin_kind: kind,
                    CatalogSettings.default_margin_percent: percent,
                    CatalogSettings.updated_at: clock.now(),
                }
            )
            .where(CatalogSettings.id == 1)
            .run()
        )
        after = await catalog_settings()
        await audit.record(
            actor,
            "catalog",
            "settings",
            "updated",
            before={k: str(v) for k, v in before.items()},
            after={k: str(v) for k, v in after.items()},
        )
    return after


async def add_fx_rate(actor: Principal, values: dict) -> None:
    if actor.role != "csp_admin":
        raise Forbidden()
    item = {k: values.get(k, "") for k in ("from", "to", "rate", "effective_from")}
    source, target, effective, rate = _parse_rate(0, item)
    async with db.transaction():
        fx_rate = FxRate(
            from_currency=source, to_currency=target, effective_from=effective, rate=rate, created_at=clock.now()
        )
        await (
            FxRate.insert(fx_rate)
            .on_conflict(
                target=(FxRate.from_currency, FxRate.to_currency, FxRate.effective_from),
                action="DO UPDATE",
                values=[FxRate.rate],
            )
            .run()
        )
        await audit.record(
            actor,
            "catalog",
            "fx_rates",
            "rate_set",
            after=fx_json({"from_currency": source, "to_currency": target, "effective_from": effective, "rate": rate}),
        )


async def delete_fx_rate(actor: Principal, source: str, target: str, effective: date) -> None:
    if actor.role != "csp_admin":
        raise Forbidden()
    async with db.transaction():
        deleted = (
            await FxRate.delete()
            .where(
                (FxRate.from_currency == source) & (FxRate.to_currency == target) & (FxRate.effective_from == effective)
            )
            .returning(FxRate.rate)
            .run()
        )
        if not deleted:
            raise NotFound("This rate was not found.")
        await audit.record(actor, "catalog", "fx_rates", "rate_deleted", before={"from": source, "to": target})
