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
from app.accounts import tenants
from app.accounts.rules import AccountRef, Principal, can_see, scope_sql
from app.audit import service as audit
from app.billing import locks
from app.billing import options as billing_options
from app.billing import rules as billing_rules
from app.billing import service as billing
from app.catalog import rules as catalog_rules
from app.catalog import service as catalog
from app.errors import Conflict, Invalid, NotFound
from app.jobs import queue
from app.money import Conversion, NoRate, conversion, fx_json, round_amount
from app.operations import service as operations
from app.orders import rules
from app.orders.schemas import MAX_LINES

JOB = "order_provision"


@dataclass(frozen=True)
class Requested:
    offer_id: str
    quantity: int
    term: str
    billing_plan: str
    coterm_end_date: date | None


@dataclass(frozen=True)
class Priced:
    """A line with what it costs whom: the check's `rules.Line` and the amounts stored on the order line. Microsoft
    prices the customer in its market's currency (`bought.currency`); the bill-to may keep its books in another,
    and then what it is billed is converted per seat at today's rate (`fx`, NCE_RULES 2)."""

    line: rules.Line
    offer: dict
    bought: catalog_rules.Quote  # what the bill-to pays, in the customer's market currency
    customer_price: Decimal  # what the customer pays (its reseller's price), in the same currency
    first_charge: Decimal  # what confirming charges the bill-to now, in its currency
    customer_first_charge: Decimal  # in the customer's market currency
    source_first_charge: Decimal  # `first_charge` before conversion
    bill_currency: str
    fx: Conversion | None = None

    @property
    def unit_price(self) -> Decimal:
        """The term's unit price as the bill-to is billed it."""
        return self.fx.per_seat(self.bought.unit_price) if self.fx else self.bought.unit_price


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
    """Each line's offer, the bill-to's locked price, the customer's price and what confirming charges now, in
    the bill-to's currency (NoRate when a conversion is needed and no rate is in force)."""
    buyer = await catalog.buyer_for(actor, customer_id)
    settings = await catalog.catalog_settings()
    bill_currency = str(
        await db.fetchval(
            "SELECT b.currency FROM accounts c JOIN accounts b ON b.id = coalesce(c.parent_id, c.id) WHERE c.id = $1",
            customer_id,
        )
    ).strip()
    rates = await billing.fx_rates({(buyer.currency, bill_currency)})
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
        try:
            fx = conversion(rates, bought.currency, bill_currency, today)
        except NoRate as missing:
            raise refused(rules.Refusal("no_exchange_rate", str(missing), n)) from None
        first, commitment = _first_charge(wanted, bought.unit_price, bought.currency, today)
        customer_first, _ = _first_charge(wanted, sold.unit_price, sold.currency, today)
        billed_first, billed_commitment = (fx.per_seat(first), fx.per_seat(commitment)) if fx else (first, commitment)
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
            commitment=billed_commitment * wanted.quantity,
        )
        priced.append(
            Priced(
                line,
                offer,
                bought,
                sold.unit_price,
                first_charge=billed_first * wanted.quantity,
                customer_first_charge=customer_first * wanted.quantity,
                source_first_charge=first * wanted.quantity,
                bill_currency=bill_currency,
                fx=fx,
            )
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


SITUATION_SQL = f"""
SELECT
  EXISTS (SELECT 1 FROM mca_acceptances m WHERE m.account_id = $1) AS has_mca,
  coalesce((SELECT {tenants.managed_tenant_sql("c")} FROM accounts c WHERE c.id = $1), false) AS tenant_managed,
  coalesce((SELECT jsonb_object_agg(offer_id, seats) FROM (
      SELECT s.offer_id, sum(s.quantity) AS seats FROM subscriptions s JOIN accounts a ON a.id = s.customer_id
      WHERE (a.id = $1 OR (a.tenant_id IS NOT NULL AND a.tenant_id = $2))
        AND s.status IN ('pending', 'active', 'suspended') GROUP BY s.offer_id) t), '{{}}') AS tenant_seats,
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
        tenant_managed_by_csp=facts["tenant_managed"],
        qualification=customer["qualification"],
        allowed_plans=(
            frozenset(bill_to["billing_plans"]) | billing_options.ALWAYS_ALLOWED
            if bill_to["billing_plans"] is not None
            else None
        ),
        currency=bill_to["currency"],
        today=today,
        credit_limit=bill_to["credit_limit"],
        exposure=(await billing.exposure(bill_to["id"])).amount,
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
        # the bill-to's row lock serialises its orders: two can never pass the credit check together
        bill_to, customer = await lock_commitments(bill_to_id, customer_id)
        found = await situation(customer, bill_to, clock.now().date())
        if (refusal := rules.first_refusal(found, lines)) is not None:
            raise refused(refusal)
        order = await _insert(actor, customer, bill_to, priced, rules.waves(lines, found.owned_offers))
    return await get_order(actor, order["id"])


async def lock_commitments(bill_to_id: uuid.UUID, customer_id: uuid.UUID) -> tuple[dict, dict]:
    """Serialise what commits the bill-to's credit and the tenant's pooled seats: the bill-to's row lock (two of
    its orders or changes can never pass the credit check together), then the customer's tenant (two resellers'
    customers on one tenant can never pass the pooled maximum together), in the lock order of
    app/billing/locks.py. Returns (bill-to, customer)."""
    bill_to = await locks.account(bill_to_id)
    customer = (
        bill_to
        if customer_id == bill_to_id
        else (await db.fetch("SELECT * FROM accounts WHERE id = $1", customer_id))[0]
    )
    await db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"tenant:{customer['tenant_id'] or customer['id']}")
    return bill_to, customer


async def check_change(
    bill_to: dict, customer: dict, offer: dict, quantity: int, commitment: Decimal, added: int
) -> None:
    """NCE_RULES 4: the one commitment check of a change that raises what the bill-to owes (a seat increase, an
    upgrade), run after `lock_commitments`: the same checks and messages as an order line. `quantity` is the
    subscription's quantity of `offer` after the change, `added` the seats it adds to the tenant."""
    line = rules.Line(
        offer_id=offer["id"],
        title=offer["title"],
        kind=offer["kind"],
        segment=offer["segment"],
        quantity=quantity,
        term="",
        billing_plan="",
        min_quantity=offer["min_quantity"],
        max_quantity=offer["max_quantity"],
        tenant_max=offer["tenant_max"],
        commitment=commitment,
    )
    found = await situation(customer, bill_to, clock.now().date())
    if (refusal := rules.change_refusal(found, line, added)) is not None:
        raise refused(refusal)


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
        "first_charge, customer_first_charge, reserved, wave, fx_rate, source_currency, source_unit_price, "
        "source_first_charge) "
        "SELECT gen_random_uuid(), $1, n, o, t, q, te, bp, ce, $2, up, cp, co, $3, pr, fc, cf, rs, w, fx, $19, su, sf "
        "FROM unnest($4::int[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::date[], "
        "$11::numeric[], $12::numeric[], $13::numeric[], $14::text[], $15::numeric[], $16::numeric[], "
        "$17::numeric[], $18::int[], $20::numeric[], $21::numeric[], $22::numeric[]) "
        "AS l(n, o, t, q, te, bp, ce, up, cp, co, pr, fc, cf, rs, w, fx, su, sf)",
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
        [p.unit_price for p in priced],
        [p.customer_price for p in priced],
        [p.bought.microsoft_cost for p in priced],
        [p.bought.promotion.id if p.bought.promotion else None for p in priced],
        [p.first_charge for p in priced],
        [p.customer_first_charge for p in priced],
        [p.line.commitment for p in priced],
        waves,
        priced[0].bought.currency,  # the customer's market currency: one per customer
        [p.fx.rate if p.fx else None for p in priced],
        [p.bought.unit_price for p in priced],
        [p.source_first_charge for p in priced],
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
    args: list = []
    where = [scope_sql(viewer, "a.id", "a.parent_id", args)]
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
        # the bill-to's currency; a reseller's customer is shown its own prices, in its market's currency
        "currency": str(lines[0]["source_currency"]).strip() if customer_view and lines else order["currency"],
        "created_at": order["created_at"].isoformat(),
        "operation": {
            "id": str(order["operation_id"]),
            "status": order["operation_status"],
            "error": order["operation_error"],
        }
        if order["operation_id"]
        else None,
        "lines": [line_json(line, customer_view) for line in lines],
    }


def line_json(line: dict, customer_view: bool) -> dict:
    """An order line as its viewer is billed it: the bill-to's currency with the rate it was converted at, or
    for a reseller's customer its own price, in its market's currency."""
    source = str(line["source_currency"]).strip()
    if customer_view:
        currency, unit, first, fx = source, line["customer_unit_price"], line["customer_first_charge"], None
    else:
        currency, unit, first = str(line["currency"]).strip(), line["unit_price"], line["first_charge"]
        fx = fx_json(line["fx_rate"], source, currency, line["source_first_charge"])
    return {
        "offer_id": line["offer_id"],
        "title": line["title"],
        "quantity": line["quantity"],
        "term": line["term"],
        "billing_plan": line["billing_plan"],
        "coterm_end_date": line["coterm_end_date"].isoformat() if line["coterm_end_date"] else None,
        "unit_price": str(round_amount(unit, currency)),
        "first_charge": str(round_amount(first, currency)),
        "currency": currency,
        "fx": fx,
        "status": line["status"],
        "subscription_id": str(line["subscription_id"]) if line["subscription_id"] else None,
        "error": line["error"],
    }


def line_summary(priced: Priced, today: date, *, customer_view: bool) -> dict:
    """What a person confirms for a line: what it charges now, then what recurs, when, until when. The bill-to's
    view is in its currency, with the rate when converted; a reseller's customer sees its own price."""
    line = priced.line
    fx = None if customer_view else priced.fx
    source_unit = priced.customer_price if customer_view else priced.bought.unit_price
    first = priced.customer_first_charge if customer_view else priced.first_charge
    currency = priced.bought.currency if customer_view else priced.bill_currency
    summary: dict[str, Any] = {
        "first_charge": first,
        "currency": currency,
        "unit_price": fx.per_seat(source_unit) if fx else source_unit,
        "fx": fx.fx(priced.source_first_charge) if fx else None,
    }
    if not line.term:
        return {**summary, "recurring": None, "ends": None, "renews": False}
    end = billing_rules.first_term_end(today, line.term, line.coterm_end_date)
    months = catalog_rules.TERM_MONTHS[line.term]
    monthly = line.billing_plan == "monthly" and months > 1
    per_month = round_amount(source_unit / months, priced.bought.currency)
    return {
        **summary,
        "recurring": (fx.per_seat(per_month) if fx else per_month) * line.quantity if monthly else None,
        "next_charge": billing_rules.add_months(today, 1) if monthly else None,
        "ends": end,
        "renews": line.kind != "trial",
    }
