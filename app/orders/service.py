"""Placing orders: price the lines, run NCE_RULES 3 under the bill-to account's lock, hold the credit, queue
the provisioning. Reading orders back for the API and the pages."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import AccountRef, Principal, can_see
from app.audit import service as audit
from app.billing import locks
from app.billing import options as billing_options
from app.billing import rules as billing_rules
from app.billing import service as billing
from app.catalog import rules as catalog_rules
from app.catalog import service as catalog
from app.errors import Conflict, Invalid, NotFound
from app.jobs import queue
from app.money import round_amount
from app.operations import service as operations
from app.orders import rules

JOB = "order_provision"
MAX_LINES = 50


@dataclass(frozen=True)
class Requested:
    offer_id: str
    quantity: int
    term: str
    billing_plan: str
    coterm_end_date: date | None


@dataclass(frozen=True)
class Priced:
    """A line with what it costs whom: the check's `rules.Line` and the amounts stored on the order line."""

    line: rules.Line
    offer: dict
    bought: catalog_rules.Quote  # what the bill-to pays
    customer_price: Decimal  # what the customer pays (its reseller's price)
    first_charge: Decimal
    customer_first_charge: Decimal


def parse_order(body: Any) -> tuple[uuid.UUID, list[Requested]]:
    """API.md Orders: `{customer_id, lines: [{offer_id, quantity, term, billing_plan, coterm_end_date?}]}`."""
    if not isinstance(body, dict):
        raise Invalid({"lines": "Send a JSON object with customer_id and lines."})
    try:
        customer_id = uuid.UUID(str(body.get("customer_id")))
    except ValueError:
        raise Invalid({"customer_id": "customer_id names the customer the order is for."}) from None
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise Invalid({"lines": "An order has at least one line."})
    if len(lines) > MAX_LINES:
        raise Invalid({"lines": f"An order has at most {MAX_LINES} lines."})
    return customer_id, [parse_line(n, line) for n, line in enumerate(lines)]


def parse_line(n: int, line: Any) -> Requested:
    where = f"lines[{n}]"
    if not isinstance(line, dict):
        raise Invalid({where: "Each line is an object with offer_id, quantity, term and billing_plan."})
    offer_id = line.get("offer_id")
    if not isinstance(offer_id, str) or not offer_id.strip():
        raise Invalid({f"{where}.offer_id": "offer_id is the offer's ProductId:SkuId."})
    quantity = line.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise Invalid({f"{where}.quantity": "quantity is a whole number of seats, at least 1."})
    term = line.get("term", "")
    plan = line.get("billing_plan")
    if not isinstance(term, str) or term not in ("", *catalog_rules.TERM_MONTHS):
        raise Invalid({f"{where}.term": "term is P1M, P1Y or P3Y (empty for a perpetual licence)."})
    if plan not in ("monthly", "annual", "triennial", "one_time", "none"):
        raise Invalid({f"{where}.billing_plan": "billing_plan is monthly, annual, triennial, one_time or none."})
    coterm = None
    if line.get("coterm_end_date") not in (None, ""):
        try:
            coterm = date.fromisoformat(str(line["coterm_end_date"]))
        except ValueError:
            raise Invalid({f"{where}.coterm_end_date": "coterm_end_date is a date, YYYY-MM-DD."}) from None
    return Requested(offer_id.strip().upper(), quantity, term, plan, coterm)


def refused(refusal: rules.Refusal) -> Conflict:
    return Conflict(refusal.code, refusal.message, None if refusal.line is None else f"lines[{refusal.line}]")


async def price_lines(actor: Principal, customer_id: uuid.UUID, requested: list[Requested]) -> list[Priced]:
    """Each line's offer, the bill-to's locked price, the customer's price and what confirming charges now."""
    buyer = await catalog.buyer_for(actor, customer_id)
    settings = await catalog.catalog_settings()
    now = clock.now()
    today = now.date()
    priced = []
    for n, wanted in enumerate(requested):
        try:
            offer = await catalog.get_offer(wanted.offer_id)
        except NotFound:
            raise Invalid({f"lines[{n}].offer_id": f"{wanted.offer_id} is not in the catalog."}) from None
        if offer["status"] != "active":
            raise refused(rules.Refusal("offer_discontinued", f"'{offer['title']}' is no longer sold.", n))
        # the segment is NCE_RULES 3.4's to refuse, in its turn: price the offer as its segment's customers pay
        qualified = dataclasses.replace(buyer, qualification=offer["segment"])
        try:
            bought, sold = await catalog.quote_layers(
                offer,
                qualified,
                term=wanted.term,
                billing_plan=wanted.billing_plan,
                at=now,
                settings=settings,
                seats=wanted.quantity,
            )
        except catalog_rules.PriceUnavailable as unavailable:
            raise refused(rules.Refusal("price_unavailable", str(unavailable), n)) from None
        first, commitment = _first_charge(wanted, bought.unit_price, bought.currency, today)
        customer_first, _ = _first_charge(wanted, sold.unit_price, sold.currency, today)
        line = rules.Line(
            offer_id=offer["id"],
            title=offer["title"],
            kind=offer["kind"],
            segment=offer["segment"],
            quantity=wanted.quantity,
            term=wanted.term,
            billing_plan=wanted.billing_plan,
            min_quantity=offer["min_quantity"],
            max_quantity=offer["max_quantity"],
            tenant_max=offer["tenant_max"],
            is_addon=offer["is_addon"],
            prerequisites=tuple(offer["prerequisites"]),
            coterm_end_date=wanted.coterm_end_date,
            commitment=commitment * wanted.quantity,
        )
        priced.append(
            Priced(line, offer, bought, sold.unit_price, first * wanted.quantity, customer_first * wanted.quantity)
        )
    return priced


def _first_charge(wanted: Requested, price: Decimal, currency: str, today: date) -> tuple[Decimal, Decimal]:
    """Per seat: what confirming charges now, and what the first term commits to (NCE_RULES 5)."""
    if not wanted.term:  # perpetual: one payment
        return price, price
    end = billing_rules.first_term_end(today, wanted.term, wanted.coterm_end_date)
    if end < today:  # an impossible end date: the coterm check refuses the line, nothing is charged
        return Decimal(0), Decimal(0)
    _, first = billing_rules.charge_from(today, end, wanted.term, wanted.billing_plan, price, currency, today)
    commitment = billing_rules.term_commitment(today, end, wanted.term, wanted.billing_plan, price, currency)
    return first, commitment


SITUATION_SQL = """
SELECT
  EXISTS (SELECT 1 FROM mca_acceptances m WHERE m.account_id = $1) AS has_mca,
  coalesce((SELECT jsonb_object_agg(offer_id, seats) FROM (
      SELECT s.offer_id, sum(s.quantity) AS seats FROM subscriptions s JOIN accounts a ON a.id = s.customer_id
      WHERE (a.id = $1 OR (a.tenant_id IS NOT NULL AND a.tenant_id = $2))
        AND s.status IN ('pending', 'active', 'suspended') GROUP BY s.offer_id) t), '{}') AS tenant_seats,
  ARRAY(SELECT DISTINCT offer_id FROM subscriptions WHERE customer_id = $1 AND status = 'active') AS owned,
  ARRAY(SELECT DISTINCT offer_id FROM subscriptions WHERE customer_id = $1 AND is_trial) AS trials,
  ARRAY(SELECT DISTINCT end_date FROM subscriptions
        WHERE customer_id = $1 AND status = 'active' AND end_date IS NOT NULL) AS end_dates
"""


async def situation(customer: dict, bill_to: dict, today: date) -> rules.Situation:
    """The customer's and its bill-to's state for the checks; called with the bill-to row locked."""
    facts = (await db.fetch(SITUATION_SQL, customer["id"], customer["tenant_id"]))[0]
    hold_status = "active" if bill_to["status"] == "active" else bill_to["status"]
    return rules.Situation(
        account_status=customer["status"] if customer["status"] != "active" else hold_status,
        payment_hold=bool(customer["payment_hold"] or bill_to["payment_hold"]),
        has_mca=facts["has_mca"],
        existing_tenant=customer["tenant_origin"] == "existing",
        gdap_active=customer["gdap_status"] == "active",
        qualification=customer["qualification"],
        allowed_plans=(
            frozenset(bill_to["billing_plans"]) | billing_options.ALWAYS_ALLOWED
            if bill_to["billing_plans"] is not None
            else None
        ),
        currency=bill_to["currency"],
        today=today,
        credit_limit=bill_to["credit_limit"],
        exposure=await billing.exposure(bill_to["id"]),
        tenant_seats={k: int(v) for k, v in _json(facts["tenant_seats"]).items()},
        owned_offers=frozenset(facts["owned"]),
        trials_used=frozenset(facts["trials"]),
        subscription_end_dates=frozenset(facts["end_dates"]),
    )


def _json(value: Any) -> dict:
    return json.loads(value) if isinstance(value, str) else dict(value)


async def place_order(actor: Principal, body: Any) -> dict:
    """Check the order (NCE_RULES 3, in order: the first refusal is the answer and nothing is written), then
    in one transaction: the order and its lines, the credit they hold, and the provisioning job."""
    customer_id, requested = parse_order(body)
    customer = await accounts.get_account(actor, customer_id)
    if customer["kind"] != "customer":
        raise Invalid({"customer_id": "customer_id names a customer account."})
    priced = await price_lines(actor, customer_id, requested)
    bill_to_id = customer["parent_id"] or customer["id"]
    lines = [p.line for p in priced]
    async with db.transaction():
        # the bill-to's row lock serialises its orders: two can never pass the credit check together; it is the
        # first lock of the order app/billing/locks.py sets
        bill_to = await locks.account(bill_to_id)
        customer = (await db.fetch("SELECT * FROM accounts WHERE id = $1", customer_id))[0]
        found = await situation(customer, bill_to, clock.now().date())
        if (refusal := rules.first_refusal(found, lines)) is not None:
            raise refused(refusal)
        order = await _insert(actor, customer, bill_to, priced, rules.waves(lines, found.owned_offers))
    return await get_order(actor, order["id"])


async def _insert(actor: Principal, customer: dict, bill_to: dict, priced: list[Priced], waves: list[int]) -> dict:
    now = clock.now()
    order_id = uuid.uuid4()
    operation = await operations.create(JOB, actor, account_id=customer["id"], subject_id=str(order_id))
    order = (
        await db.fetch(
            "INSERT INTO orders (id, customer_id, bill_to_id, reseller_id, placed_by, status, currency, operation_id, "
            "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'accepted', $6, $7, $8, $8) RETURNING *",
            order_id,
            customer["id"],
            bill_to["id"],
            customer["parent_id"],
            actor.user_id,
            bill_to["currency"],
            operation["id"],
            now,
        )
    )[0]
    await db.execute(
        "INSERT INTO order_lines (id, order_id, line_no, offer_id, title, quantity, term, billing_plan, "
        "coterm_end_date, currency, unit_price, customer_unit_price, cost_price, cost_currency, promotion_id, "
        "first_charge, customer_first_charge, reserved, wave) "
        "SELECT gen_random_uuid(), $1, n, o, t, q, te, bp, ce, $2, up, cp, co, $3, pr, fc, cf, rs, w "
        "FROM unnest($4::int[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::date[], "
        "$11::numeric[], $12::numeric[], $13::numeric[], $14::text[], $15::numeric[], $16::numeric[], "
        "$17::numeric[], $18::int[]) AS l(n, o, t, q, te, bp, ce, up, cp, co, pr, fc, cf, rs, w)",
        order_id,
        bill_to["currency"],
        priced[0].bought.microsoft_currency,  # Microsoft bills the CSP in its price list's currency
        list(range(1, len(priced) + 1)),
        [p.offer["id"] for p in priced],
        [p.offer["title"] for p in priced],
        [p.line.quantity for p in priced],
        [p.line.term for p in priced],
        [p.line.billing_plan for p in priced],
        [p.line.coterm_end_date for p in priced],
        [p.bought.unit_price for p in priced],
        [p.customer_price for p in priced],
        [p.bought.microsoft_cost for p in priced],
        [p.bought.promotion.id if p.bought.promotion else None for p in priced],
        [p.first_charge for p in priced],
        [p.customer_first_charge for p in priced],
        [p.line.commitment for p in priced],
        waves,
    )
    await queue.enqueue(JOB, {"order_id": str(order_id)}, dedupe_key=f"{JOB}:{order_id}")
    await audit.record(
        actor,
        "order",
        order_id,
        "placed",
        after={"customer_id": str(customer["id"]), "lines": [p.offer["id"] for p in priced]},
    )
    return order


# --- Reading ----------------------------------------------------------------------------------------------


async def _visible_order(viewer: Principal, order_id: uuid.UUID) -> dict:
    rows = await db.fetch(
        "SELECT o.*, a.kind AS account_kind, a.parent_id, a.name AS customer_name, op.status AS operation_status, "
        "op.error AS operation_error FROM orders o JOIN accounts a ON a.id = o.customer_id "
        "LEFT JOIN operations op ON op.id = o.operation_id WHERE o.id = $1",
        order_id,
    )
    if not rows or not can_see(viewer, AccountRef(rows[0]["customer_id"], "customer", rows[0]["parent_id"])):
        raise NotFound("This order was not found.")
    return rows[0]


async def get_order(viewer: Principal, order_id: uuid.UUID) -> dict:
    order = await _visible_order(viewer, order_id)
    lines = await db.fetch("SELECT * FROM order_lines WHERE order_id = $1 ORDER BY line_no", order_id)
    return order_json(order, lines, viewer)


async def list_orders(viewer: Principal, customer_id: uuid.UUID | None, limit: int, offset: int) -> tuple[list, int]:
    where, args = ["TRUE"], []
    if viewer.role == "reseller_admin":
        args.append(viewer.account_id)
        where.append(f"(a.parent_id = ${len(args)} OR a.id = ${len(args)})")
    elif viewer.role != "csp_admin":
        args.append(viewer.account_id)
        where.append(f"a.id = ${len(args)}")
    if customer_id is not None:
        args.append(customer_id)
        where.append(f"o.customer_id = ${len(args)}")
    rows = await db.fetch(
        "SELECT o.*, a.name AS customer_name, op.status AS operation_status, op.error AS operation_error, "
        "count(*) OVER () AS total FROM orders o JOIN accounts a ON a.id = o.customer_id "
        f"LEFT JOIN operations op ON op.id = o.operation_id WHERE {' AND '.join(where)} "
        f"ORDER BY o.created_at DESC, o.id LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    if not rows:
        return [], 0
    ids = [r["id"] for r in rows]
    lines = await db.fetch("SELECT * FROM order_lines WHERE order_id = ANY($1::uuid[]) ORDER BY line_no", ids)
    by_order: dict[uuid.UUID, list[dict]] = {}
    for line in lines:
        by_order.setdefault(line["order_id"], []).append(line)
    return [order_json(r, by_order.get(r["id"], []), viewer) for r in rows], int(rows[0]["total"])


def order_json(order: dict, lines: list[dict], viewer: Principal) -> dict:
    """API.md Orders. A reseller's customer sees its own price; the reseller and the CSP see what is billed."""
    customer_view = viewer.role == "customer_admin"
    return {
        "id": str(order["id"]),
        "number": order["number"],
        "customer_id": str(order["customer_id"]),
        "customer_name": order.get("customer_name"),
        "status": order["status"],
        "currency": order["currency"],
        "created_at": order["created_at"].isoformat(),
        "operation": {
            "id": str(order["operation_id"]),
            "status": order["operation_status"],
            "error": order["operation_error"],
        }
        if order["operation_id"]
        else None,
        "lines": [
            {
                "offer_id": line["offer_id"],
                "title": line["title"],
                "quantity": line["quantity"],
                "term": line["term"],
                "billing_plan": line["billing_plan"],
                "coterm_end_date": line["coterm_end_date"].isoformat() if line["coterm_end_date"] else None,
                "unit_price": str(
                    round_amount(line["customer_unit_price"] if customer_view else line["unit_price"], line["currency"])
                ),
                "first_charge": str(
                    round_amount(line["customer_first_charge" if customer_view else "first_charge"], line["currency"])
                ),
                "status": line["status"],
                "subscription_id": str(line["subscription_id"]) if line["subscription_id"] else None,
                "error": line["error"],
            }
            for line in lines
        ],
    }


def line_summary(priced: Priced, today: date, *, customer_view: bool) -> dict:
    """What a person confirms for a line: what it charges now, then what recurs, when, until when."""
    line = priced.line
    unit = priced.customer_price if customer_view else priced.bought.unit_price
    first = priced.customer_first_charge if customer_view else priced.first_charge
    currency = priced.bought.currency
    summary: dict[str, Any] = {"first_charge": first, "currency": currency, "unit_price": unit}
    if not line.term:
        return {**summary, "recurring": None, "ends": None, "renews": False}
    end = billing_rules.first_term_end(today, line.term, line.coterm_end_date)
    months = catalog_rules.TERM_MONTHS[line.term]
    monthly = line.billing_plan == "monthly" and months > 1
    return {
        **summary,
        "recurring": round_amount(unit / months, currency) * line.quantity if monthly else None,
        "next_charge": billing_rules.add_months(today, 1) if monthly else None,
        "ends": end,
        "renews": line.kind != "trial",
    }
