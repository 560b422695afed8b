"""Price resolution: what an account pays for an offer, term and billing plan at a moment (NCE_RULES 1-2).

Pure: rows, rules and rates in, a priced and explained quote out. The service gathers the inputs with a
few indexed queries; everything that decides a price is here, so it is tested exhaustively.

Order of the rules (NCE_RULES 2): the price row in force for the account's market, segment, term and plan
(latest start wins on overlap) → FX into the account's currency when Microsoft prices another one → the
most specific of the CSP's margin rules (customer > reseller > product > global), markup on cost or discount off ERP,
never below cost unless that rule allows it → the account's surcharge on monthly plans of P1Y/P3Y terms →
an eligible automatic Microsoft promotion, percent off (it lowers the CSP's cost too). The unit price is
for the whole term, rounded to the currency's minor unit; monthly plans also get their per-month amount.

A reseller's customer is priced in two layers: `quote` gives what the CSP charges the reseller (the bill-to:
the CSP's own rules only), and `resell` puts the reseller's own rule for that customer on top (its rule for the
customer and offer, else for the customer, else its default for all its customers), with the reseller's price as
its cost. Rules belong to whoever made them (`owner`: None for the CSP, else the reseller's id), so no rule a
reseller makes can change what it is billed, and the CSP's rules never price the reseller's layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from typing import TypeVar

from app.money import FxRate, no_rate_message, rate_in_force, round_amount, round_unit_price

TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}
MARGIN_KINDS = ("markup_on_cost", "discount_off_erp")
HUNDRED = Decimal(100)
RESELLER_SCOPES = {"customer": "for this customer", "reseller_customers": "for all your customers"}


class PriceUnavailable(Exception):
    """The account cannot buy this offer, term and plan now; the message says why, for the user."""


@dataclass(frozen=True)
class PriceRow:
    market: str
    currency: str
    segment: str
    term: str  # '' for perpetual licences
    billing_plan: str
    unit_price: Decimal  # the CSP's cost for the whole term
    erp_price: Decimal
    effective_start: datetime
    effective_end: datetime


@dataclass(frozen=True)
class MarginRule:
    scope: str  # customer | reseller | product | global (the CSP's); customer | reseller_customers (a reseller's)
    kind: str  # markup_on_cost | discount_off_erp
    percent: Decimal
    account_id: str | None = None  # reseller_customers: the reseller itself
    offer_id: str | None = None
    allow_below_cost: bool = False
    owner: str | None = None  # who made it: None for the CSP, else the reseller's id


@dataclass(frozen=True)
class Promotion:
    id: str
    percent: Decimal  # 0.05 is 5% off


@dataclass(frozen=True)
class Buyer:
    """Who the price is for. No customer yet (a reseller browsing): `customer_id` is None."""

    country: str
    currency: str
    qualification: str = "commercial"
    customer_id: str | None = None
    reseller_id: str | None = None
    monthly_surcharge_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class Quote:
    offer_id: str
    term: str
    billing_plan: str
    currency: str
    cost: Decimal  # the CSP's cost for the term in the buyer's currency, after any promotion
    erp: Decimal
    margin: Decimal  # what the margin rule added (negative when it sells below cost by an explicit rule)
    surcharge: Decimal
    promotion: Promotion | None
    promotion_discount: Decimal
    unit_price: Decimal  # for the whole term, in the currency's minor unit
    per_month: Decimal | None  # monthly plans: what each month charges
    market: str
    fx_rate: Decimal | None
    explanation: tuple[str, ...] = field(default=())
    microsoft_cost: Decimal = Decimal(0)  # what Microsoft charges the CSP for the term, after any promotion,
    microsoft_currency: str = ""  # in the currency of its price list

    @property
    def per(self) -> str:
        return "month" if self.per_month is not None else "term"


_Default = TypeVar("_Default", MarginRule, None)


def row_in_force(rows: Iterable[PriceRow], at: datetime) -> PriceRow | None:
    """The row whose effective range contains `at`; the latest start wins where ranges overlap."""
    in_force = [r for r in rows if r.effective_start <= at <= r.effective_end]
    return max(in_force, key=lambda r: r.effective_start) if in_force else None


def fx_rate(rates: Iterable[FxRate], from_currency: str, to_currency: str, on: date) -> Decimal | None:
    """The CSP's rate from one currency to another in force on `on` (latest effective date not after it)."""
    return rate_in_force(rates, from_currency, to_currency, on)


def margin_rule(
    rules: Iterable[MarginRule], offer_id: str, buyer: Buyer, default: _Default, owner: str | None = None
) -> MarginRule | _Default:
    """The most specific of `owner`'s rules (None: the CSP's). The CSP's: customer > reseller > product > global;
    a reseller's: customer > its default for all its customers. Within an account's rules, one for this offer
    beats one for every offer."""

    def rank(rule: MarginRule) -> tuple[int, int] | None:
        if rule.owner != owner or rule.offer_id not in (None, offer_id):
            return None
        specific = 1 if rule.offer_id else 0
        if rule.scope == "customer" and buyer.customer_id and rule.account_id == buyer.customer_id:
            return (3, specific)
        if owner is None and rule.scope == "reseller" and buyer.reseller_id and rule.account_id == buyer.reseller_id:
            return (2, specific)
        if owner is not None and rule.scope == "reseller_customers" and rule.account_id == owner:
            return (2, specific)
        if owner is None and rule.scope == "product" and rule.offer_id == offer_id:
            return (1, specific)
        return None

    best: tuple[tuple[int, int], MarginRule] | None = None
    for rule in rules:
        found = rank(rule)
        if found is not None and (best is None or found > best[0]):
            best = (found, rule)
    return best[1] if best else default


def apply_margin(cost: Decimal, erp: Decimal, rule: MarginRule) -> tuple[Decimal, bool]:
    """Sell price before surcharge and promotion, and whether it was held up at cost."""
    share = rule.percent / HUNDRED
    sell = cost * (1 + share) if rule.kind == "markup_on_cost" else erp * (1 - share)
    if sell < cost and not rule.allow_below_cost:
        return cost, True
    return sell, False


def _term_price(
    sell: Decimal, cost: Decimal, term: str, billing_plan: str, currency: str, below_cost: bool
) -> tuple[Decimal, Decimal | None]:
    """The term's unit price in minor units, and a monthly plan's per-month amount. A monthly plan charges the
    same amount every month (NCE_RULES 2): the term price is that amount × months."""
    months = TERM_MONTHS.get(term, 1) if billing_plan == "monthly" else 1
    per_period = round_amount(sell / months, currency)
    if per_period * months < cost and not below_cost:
        # rounding half-up must not take the price below cost: round up to the next minor unit instead
        per_period = round_amount(cost / months, currency, rounding=ROUND_CEILING)
    return per_period * months, per_period if billing_plan == "monthly" else None


def resell(bought: Quote, rule: MarginRule | None, buyer: Buyer) -> Quote:
    """A reseller's customer's price: the reseller's rule for that customer over `bought`, what the CSP charges
    the reseller, which becomes the cost (never sold below unless the rule allows it). `rule` is the reseller's
    own (`margin_rule(..., owner=buyer.reseller_id)`). Markup is on the reseller's price; a discount off ERP takes
    the same monthly surcharge and Microsoft promotion as `bought`. No rule: the customer pays the reseller's
    price."""
    cost = bought.unit_price
    if rule is None:
        return replace(bought, cost=cost, margin=Decimal(0), explanation=("No margin rule for this customer",))
    share = rule.percent / HUNDRED
    if rule.kind == "markup_on_cost":
        sell = cost * (1 + share)
        verb = "markup on your price"
    else:
        sell = bought.erp * (1 - share)
        if bought.surcharge:
            sell += sell * buyer.monthly_surcharge_percent / HUNDRED
        if bought.promotion is not None:
            sell -= sell * bought.promotion.percent
        verb = "discount off ERP"
    explanation = [
        f"Your price: {cost} {bought.currency}",
        f"Your margin rule {RESELLER_SCOPES.get(rule.scope, 'for this customer')}: {rule.percent}% {verb}",
    ]
    if sell < cost and not rule.allow_below_cost:
        sell = cost
        explanation.append("Held at your price: the rule would sell below it and does not allow it")
    unit_price, per_month = _term_price(
        sell, cost, bought.term, bought.billing_plan, bought.currency, rule.allow_below_cost
    )
    return replace(
        bought,
        cost=cost,
        margin=round_unit_price(unit_price - cost),
        unit_price=unit_price,
        per_month=per_month,
        explanation=tuple(explanation),
    )


def quote(
    offer_id: str,
    *,
    offer_segment: str,
    term: str,
    billing_plan: str,
    rows: Sequence[PriceRow],
    buyer: Buyer,
    at: datetime,
    margin_rules: Iterable[MarginRule] = (),
    default_margin: MarginRule,
    fx_rates: Iterable[FxRate] = (),
    promotions: Iterable[Promotion] = (),
    markets: Sequence[str] | None = None,
    highest_across_markets: bool = False,
) -> Quote:
    """Price one offer, term and plan for `buyer` at `at`. `rows` are the offer's price rows (any market);
    `promotions` the automatic Microsoft promotions the buyer is eligible for (the best one applies);
    `highest_across_markets`: software subscriptions before the customer is known show the highest price
    among the CSP's `markets`, converted to the buyer's currency."""
    if offer_segment != "commercial" and buyer.customer_id and buyer.qualification != offer_segment:
        raise PriceUnavailable(f"This offer is for {offer_segment} customers only.")
    plan_rows = [r for r in rows if r.term == term and r.billing_plan == billing_plan]
    if highest_across_markets:
        candidates = [
            (row, rate)
            for market in markets or ()
            if (row := row_in_force((r for r in plan_rows if r.market == market), at)) is not None
            and (rate := fx_rate(fx_rates, row.currency, buyer.currency, at.date())) is not None
        ]
        if not candidates:
            raise PriceUnavailable("This offer has no price for this term and billing plan.")
        row, rate = max(candidates, key=lambda c: c[0].unit_price * c[1])
    else:
        if markets is not None and buyer.country not in markets:
            raise PriceUnavailable(f"Offers are not sold in {buyer.country}.")
        row = row_in_force((r for r in plan_rows if r.market == buyer.country), at)
        if row is None:
            raise PriceUnavailable("This offer has no price for this term and billing plan.")
        found = fx_rate(fx_rates, row.currency, buyer.currency, at.date())
        if found is None:
            raise PriceUnavailable(no_rate_message(row.currency, buyer.currency))
        rate = found
    currency = buyer.currency
    cost, erp = round_unit_price(row.unit_price * rate), round_unit_price(row.erp_price * rate)
    explanation = [f"Microsoft {row.market} price list: cost {row.unit_price} {row.currency}, ERP {row.erp_price}"]
    if rate != 1:
        explanation.append(f"Converted at {rate} {row.currency}→{currency}: cost {cost}, ERP {erp}")

    rule = margin_rule(margin_rules, offer_id, buyer, default_margin)
    sell, held = apply_margin(cost, erp, rule)
    margin = sell - cost
    verb = "markup on cost" if rule.kind == "markup_on_cost" else "discount off ERP"
    explanation.append(f"{rule.scope.capitalize()} margin rule: {rule.percent}% {verb}")
    if held:
        explanation.append("Held at cost: the rule would sell below cost and does not allow it")

    surcharge = Decimal(0)
    if billing_plan == "monthly" and term in ("P1Y", "P3Y") and buyer.monthly_surcharge_percent:
        surcharge = sell * buyer.monthly_surcharge_percent / HUNDRED
        explanation.append(f"Monthly billing surcharge: {buyer.monthly_surcharge_percent}%")
    sell += surcharge

    promotion = max(promotions, key=lambda p: p.percent, default=None)
    discount = Decimal(0)
    if promotion is not None:
        discount = sell * promotion.percent
        sell -= discount
        cost = round_unit_price(cost * (1 - promotion.percent))
        explanation.append(f"Microsoft promotion {promotion.id}: {promotion.percent * HUNDRED:g}% off")

    unit_price, per_month = _term_price(sell, cost, term, billing_plan, currency, rule.allow_below_cost)
    return Quote(
        offer_id=offer_id,
        term=term,
        billing_plan=billing_plan,
        currency=currency,
        cost=cost,
        erp=erp,
        margin=round_unit_price(margin),
        surcharge=round_unit_price(surcharge),
        promotion=promotion,
        promotion_discount=round_unit_price(discount),
        unit_price=unit_price,
        per_month=per_month,
        market=row.market,
        fx_rate=rate if rate != 1 else None,
        explanation=tuple(explanation),
        microsoft_cost=round_unit_price(row.unit_price * (1 - promotion.percent) if promotion else row.unit_price),
        microsoft_currency=row.currency,
    )
