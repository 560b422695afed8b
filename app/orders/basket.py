"""The basket: one per user, kept in the database, for one customer at a time (a reseller picks it; a customer
orders for itself). Checking it out places an order through the same service as the API."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.catalog import service as catalog
from app.config import Settings
from app.errors import AppError, Invalid, NotFound
from app.orders import service
from app.orders.tables import Basket, BasketLine
from app.partner_center.connection import job_client
from app.subscriptions.tables import Subscription

MAX_LINES = service.MAX_LINES
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """The basket priced for its customer: each line as the checkout would charge it, or why it cannot be."""

    customer: dict | None
    lines: list[dict]
    priced: list[service.Priced] | None
    problem: AppError | None


async def _customer_for(actor: Principal, customer_id: uuid.UUID | None) -> uuid.UUID | None:
    if actor.role == "customer_admin":
        return actor.account_id
    if customer_id is None:
        return None
    account = await accounts.get_account(actor, customer_id)
    if account["kind"] != "customer":
        raise Invalid({"customer_id": "Choose a customer."})
    return customer_id


async def lines(actor: Principal) -> list[dict]:
    """The basket's lines, each with the terms and plans its offer is sold with (to change them in place)."""
    rows = await db.fetch(
        f"SELECT l.*, o.title, o.kind, o.min_quantity, o.max_quantity, {catalog.PLANS_SQL} FROM basket_lines l "
        "JOIN catalog_offers o ON o.id = l.offer_id WHERE l.user_id = $2 ORDER BY l.added_at, l.id",
        clock.now(),
        actor.user_id,
    )
    for row in rows:
        row["plans"] = sorted(catalog.plans_of(row), key=lambda p: (p["term"], p["billing_plan"]))
    return rows


async def count(actor: Principal) -> int:
    return await BasketLine.count().where(BasketLine.user_id == actor.user_id).run()


async def customer_id(actor: Principal) -> uuid.UUID | None:
    if actor.role == "customer_admin":
        return actor.account_id
    row = await Basket.select(Basket.customer_id).where(Basket.user_id == actor.user_id).first().run()
    value = row["customer_id"] if row else None
    return value if isinstance(value, uuid.UUID) else None


async def _ensure(actor: Principal, customer: uuid.UUID | None = None) -> None:
    await db.execute(
        "INSERT INTO baskets (user_id, customer_id, updated_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id) DO UPDATE SET customer_id = coalesce($2, baskets.customer_id), updated_at = $3",
        actor.user_id,
        customer,
        clock.now(),
    )


async def set_customer(actor: Principal, customer: uuid.UUID | None) -> None:
    chosen = await _customer_for(actor, customer)
    await _ensure(actor)
    await Basket.update({Basket.customer_id: chosen}).where(Basket.user_id == actor.user_id).run()


def _line_values(values: dict[str, Any]) -> service.Requested:
    """A basket line from a form: the offer, a plan written "P1Y/monthly", and the seats."""
    term, _, plan = str(values.get("plan", "")).partition("/")
    body = {
        "offer_id": str(values.get("offer_id", "")),
        "quantity": _int(values.get("quantity")),
        "term": term,
        "billing_plan": plan,
        "coterm_end_date": values.get("coterm_end_date") or None,
    }
    try:
        return service.parse_line(0, body)
    except Invalid as invalid:  # the form's own field names
        raise Invalid({key.removeprefix("lines[0]."): message for key, message in invalid.errors.items()}) from None


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


async def add(actor: Principal, values: dict[str, Any]) -> None:
    wanted = _line_values(values)
    chosen = await _customer_for(actor, _uuid(values.get("customer_id")))
    if await count(actor) >= MAX_LINES:
        raise Invalid({"offer_id": f"A basket holds at most {MAX_LINES} lines."})
    async with db.transaction():
        await _ensure(actor, chosen)
        line = BasketLine(
            id=uuid.uuid4(),
            user_id=actor.user_id,
            offer_id=wanted.offer_id,
            quantity=wanted.quantity,
            term=wanted.term,
            billing_plan=wanted.billing_plan,
            coterm_end_date=wanted.coterm_end_date,
            added_at=clock.now(),
        )
        await BasketLine.insert(line).run()


async def update(actor: Principal, line_id: uuid.UUID, values: dict[str, Any]) -> None:
    current = await _line(actor, line_id)
    plan = values.get("plan") or f"{current['term']}/{current['billing_plan']}"
    wanted = _line_values(
        {
            "offer_id": current["offer_id"],
            "quantity": values.get("quantity", current["quantity"]),
            "plan": plan,
            "coterm_end_date": values.get("coterm_end_date", current["coterm_end_date"] or ""),
        }
    )
    await (
        BasketLine.update(
            {
                BasketLine.quantity: wanted.quantity,
                BasketLine.term: wanted.term,
                BasketLine.billing_plan: wanted.billing_plan,
                BasketLine.coterm_end_date: wanted.coterm_end_date,
            }
        )
        .where(BasketLine.id == line_id)
        .run()
    )


async def remove(actor: Principal, line_id: uuid.UUID) -> None:
    await _line(actor, line_id)
    await BasketLine.delete().where(BasketLine.id == line_id).run()


async def _line(actor: Principal, line_id: uuid.UUID) -> dict:
    row = await (
        BasketLine.select().where((BasketLine.id == line_id) & (BasketLine.user_id == actor.user_id)).first().run()
    )
    if row is None:
        raise NotFound("This basket line was not found.")
    return row


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _body(customer: uuid.UUID, rows: list[dict]) -> dict:
    return {
        "customer_id": str(customer),
        "lines": [
            {
                "offer_id": r["offer_id"],
                "quantity": r["quantity"],
                "term": r["term"],
                "billing_plan": r["billing_plan"],
                "coterm_end_date": r["coterm_end_date"].isoformat() if r["coterm_end_date"] else None,
            }
            for r in rows
        ],
    }


async def summary(actor: Principal) -> Summary:
    """The basket priced as the checkout will charge it; a line that cannot be priced says why."""
    rows = await lines(actor)
    chosen = await customer_id(actor)
    customer = await accounts.get_account(actor, chosen) if chosen else None
    if not rows or chosen is None:
        return Summary(customer, rows, None, None)
    _, requested = service.parse_order(_body(chosen, rows))
    try:
        priced = await service.price_lines(actor, chosen, requested)
    except AppError as problem:  # price_lines says a price it cannot make as a refusal of its line
        return Summary(customer, rows, None, problem)
    return Summary(customer, rows, priced, None)


async def end_dates(settings: Settings, customer: dict | None, terms: set[str]) -> dict[str, list[dict]]:
    """The end dates a new term may take instead of its natural one, per term, as Partner Center offers them
    for the customer's tenant (NCE_RULES 3.10): a calendar month end, or an active subscription's end date.
    None before the customer has subscriptions (nothing to co-term with) or when Partner Center cannot say."""
    if customer is None or customer["tenant_id"] is None or not terms:
        return {}
    active = (Subscription.customer_id == customer["id"]) & (Subscription.status == "active")
    if not await Subscription.exists().where(active).run():
        return {}
    titles = {
        r["partner_center_id"]: r["title"]
        for r in await Subscription.select(Subscription.partner_center_id, Subscription.title).where(active).run()
    }
    client = await job_client(settings)
    found: dict[str, list[dict]] = {}
    try:
        for term in sorted(terms):
            options = await client.custom_term_end_dates(str(customer["tenant_id"]), term)
            found[term] = [
                {
                    "date": o.allowed_custom_term_end_date.date(),
                    "label": _end_label(o.allowed_custom_term_end_date_type, o.coterm_subscription_ids, titles),
                }
                for o in options
                if o.allowed_custom_term_end_date is not None
            ]
    except Exception:  # the basket still works without them: the natural end date applies
        log.warning("no custom term end dates from Partner Center for %s", customer["id"], exc_info=True)
        return {}
    finally:
        await client.aclose()
    return found


def _end_label(kind: str | None, subscriptions: list[str], titles: dict[str, str]) -> str:
    if kind == "subscriptionAligned":
        names = sorted({titles.get(s, "another subscription") for s in subscriptions})
        return "with " + ", ".join(names)
    return "end of the month"


async def checkout(actor: Principal) -> dict:
    """Place the basket's order (NCE_RULES 3 decides); the basket empties once the order is accepted."""
    chosen = await customer_id(actor)
    if chosen is None:
        raise Invalid({"customer_id": "Choose the customer this order is for."})
    rows = await lines(actor)
    if not rows:
        raise Invalid({"lines": "The basket is empty."})
    order = await service.place_order(actor, _body(chosen, rows))
    # only the lines this order placed: a line added meanwhile (another tab) stays in the basket
    placed = [r["id"] for r in rows]
    await BasketLine.delete().where((BasketLine.user_id == actor.user_id) & BasketLine.id.is_in(placed)).run()
    return order
