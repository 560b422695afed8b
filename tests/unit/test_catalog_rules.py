"""Price resolution (NCE_RULES 1-2): examples for each rule, and hypothesis for the invariants."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.catalog.rules import (
    Buyer,
    FxRate,
    MarginRule,
    PriceRow,
    PriceUnavailable,
    Promotion,
    fx_rate,
    margin_rule,
    quote,
    resell,
    row_in_force,
)
from app.money import minor_units

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 12, tzinfo=UTC)
FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
START = datetime(2025, 1, 1, tzinfo=UTC)
GLOBAL = MarginRule("global", "discount_off_erp", Decimal(0))
US = Buyer(country="US", currency="USD", customer_id="c1", reseller_id="r1")


def row(
    unit: str,
    erp: str,
    *,
    market: str = "US",
    currency: str = "USD",
    term: str = "P1Y",
    plan: str = "annual",
    start: datetime = START,
    end: datetime = FAR,
    segment: str = "commercial",
) -> PriceRow:
    return PriceRow(market, currency, segment, term, plan, Decimal(unit), Decimal(erp), start, end)


def price(rows, buyer: Buyer = US, **kwargs):
    kwargs.setdefault("default_margin", GLOBAL)
    kwargs.setdefault("term", "P1Y")
    kwargs.setdefault("billing_plan", "annual")
    kwargs.setdefault("offer_segment", "commercial")
    kwargs.setdefault("at", AT)
    return quote("CFQ7TTC0LH18:0001", rows=rows, buyer=buyer, **kwargs)


def test_the_row_in_force_is_the_latest_start_containing_the_time():
    # facts 5.3: overlapping rows, a Nov 2 purchase uses the first, Nov 4 the second
    first = row("10", "12", start=datetime(2021, 10, 1, tzinfo=UTC), end=datetime(2021, 11, 3, 6, 57, 30, tzinfo=UTC))
    second = row("11", "13", start=datetime(2021, 11, 1, tzinfo=UTC))
    assert row_in_force([first, second], datetime(2021, 11, 2, tzinfo=UTC)) == second  # both: latest start
    assert row_in_force([first, second], datetime(2021, 10, 20, tzinfo=UTC)) == first
    assert row_in_force([first, second], datetime(2021, 11, 4, tzinfo=UTC)) == second
    assert row_in_force([first], datetime(2021, 12, 1, tzinfo=UTC)) is None


def test_price_change_next_month_applies_from_its_start():
    change = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [row("48", "60", end=change - timedelta(seconds=1)), row("52.8", "66", start=change)]
    assert price(rows).unit_price == Decimal("60.00")  # at ERP by the default rule
    assert price(rows, at=change).unit_price == Decimal("66.00")


def test_margin_kinds_and_the_most_specific_rule_wins():
    rows = [row("48", "60")]
    rules = [
        MarginRule("product", "markup_on_cost", Decimal(10), offer_id="CFQ7TTC0LH18:0001"),
        MarginRule("reseller", "discount_off_erp", Decimal(5), account_id="r1"),
        MarginRule("customer", "markup_on_cost", Decimal(15), account_id="c1"),
        MarginRule("customer", "markup_on_cost", Decimal(20), account_id="c1", offer_id="CFQ7TTC0LH18:0001"),
        MarginRule("customer", "markup_on_cost", Decimal(99), account_id="c1", offer_id="OTHER:0001"),
        MarginRule("customer", "markup_on_cost", Decimal(50), account_id="someone-else"),
    ]
    assert price(rows, margin_rules=rules).unit_price == Decimal("57.60")  # 48 × 1.20
    assert price(rows, margin_rules=rules[:3]).unit_price == Decimal("55.20")  # customer 15%
    assert price(rows, margin_rules=rules[:2]).unit_price == Decimal("57.00")  # reseller: 60 × 0.95
    assert price(rows, margin_rules=rules[:1]).unit_price == Decimal("52.80")  # product: 48 × 1.10
    assert price(rows).unit_price == Decimal("60.00")  # global: ERP
    assert margin_rule(rules, "CFQ7TTC0LH18:0001", Buyer("US", "USD"), GLOBAL) == rules[0]  # no customer yet


def test_never_below_cost_unless_the_rule_says_so():
    rows = [row("48", "60")]
    deep = MarginRule("reseller", "discount_off_erp", Decimal(30), account_id="r1")
    held = price(rows, margin_rules=[deep])
    assert (held.unit_price, held.margin) == (Decimal("48.00"), Decimal(0))
    assert any("Held at cost" in line for line in held.explanation)
    allowed = MarginRule("reseller", "discount_off_erp", Decimal(30), account_id="r1", allow_below_cost=True)
    assert price(rows, margin_rules=[allowed]).unit_price == Decimal("42.00")


def test_monthly_surcharge_only_on_monthly_plans_of_yearly_terms():
    buyer = Buyer("US", "USD", customer_id="c1", monthly_surcharge_percent=Decimal(5))
    rows = [row("50.4", "63", plan="monthly"), row("48", "60"), row("6", "7.2", term="P1M", plan="monthly")]
    monthly = price(rows, buyer, billing_plan="monthly")
    # 63 × 1.05 = 66.15 a year is 5.5125 a month: every month charges 5.51, so the term is 12 × 5.51
    assert (monthly.unit_price, monthly.per_month, monthly.per) == (Decimal("66.12"), Decimal("5.51"), "month")
    assert price(rows, buyer).unit_price == Decimal("60.00")
    one_month = price(rows, buyer, term="P1M", billing_plan="monthly")
    assert (one_month.unit_price, one_month.per_month) == (Decimal("7.20"), Decimal("7.20"))


def test_an_eligible_promotion_takes_its_percent_off_price_and_cost():
    promoted = price([row("48", "60")], promotions=[Promotion("P1", Decimal("0.05")), Promotion("P2", Decimal("0.10"))])
    assert (promoted.unit_price, promoted.cost, promoted.promotion.id) == (Decimal("54.00"), Decimal("43.2000"), "P2")


def test_segment_prices_need_the_qualification():
    rows = [row("30", "36", segment="education")]
    with pytest.raises(PriceUnavailable, match="education customers only"):
        price(rows, offer_segment="education")
    school = Buyer("US", "USD", qualification="education", customer_id="c1")
    assert price(rows, school, offer_segment="education").unit_price == Decimal("36.00")


def test_fx_converts_from_microsofts_currency_with_the_rate_in_force():
    rates = [
        FxRate("EUR", "CHF", date(2026, 1, 1), Decimal("0.95")),
        FxRate("EUR", "CHF", date(2026, 12, 1), Decimal("0.97")),
    ]
    assert fx_rate(rates, "EUR", "CHF", date(2026, 11, 30)) == Decimal("0.95")
    assert fx_rate(rates, "EUR", "CHF", date(2026, 12, 1)) == Decimal("0.97")
    assert fx_rate(rates, "EUR", "CHF", date(2025, 12, 31)) is None
    swiss = Buyer("DE", "CHF", customer_id="c1")
    converted = price([row("100", "125", market="DE", currency="EUR")], swiss, fx_rates=rates)
    assert (converted.currency, converted.unit_price, converted.fx_rate) == ("CHF", Decimal("118.75"), Decimal("0.95"))
    with pytest.raises(PriceUnavailable, match="No exchange rate from EUR to CHF"):
        price([row("100", "125", market="DE", currency="EUR")], swiss)


def test_markets_not_sold_and_plans_without_a_row_are_refused():
    with pytest.raises(PriceUnavailable, match="not sold in FR"):
        price([row("48", "60")], Buyer("FR", "EUR", customer_id="c1"), markets=["US", "GB"])
    with pytest.raises(PriceUnavailable, match="no price for this term"):
        price([row("48", "60")], term="P3Y", billing_plan="triennial")


def test_software_subscriptions_show_the_highest_price_until_the_customer_is_known():
    rows = [
        row("100", "125"),
        row("90", "115", market="GB", currency="GBP"),
        row("95", "120", market="DE", currency="EUR"),
    ]
    rates = [
        FxRate("GBP", "USD", date(2026, 1, 1), Decimal("1.30")),
        FxRate("EUR", "USD", date(2026, 1, 1), Decimal("1.08")),
    ]
    browsing = Buyer("US", "USD")
    top = price(rows, browsing, fx_rates=rates, markets=["US", "GB", "DE"], highest_across_markets=True)
    assert (top.market, top.unit_price) == ("GB", Decimal("149.50"))  # 115 GBP × 1.30


def test_jpy_has_no_minor_unit():
    yen = price(
        [row("7248", "9060", market="JP", currency="JPY", plan="monthly")], Buyer("JP", "JPY"), billing_plan="monthly"
    )
    assert (yen.unit_price, yen.per_month) == (Decimal("9060"), Decimal("755"))


# --- Properties ---------------------------------------------------------------------------------------------

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "CAD", "BHD")
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=4, allow_nan=False)
percents = st.decimals(min_value=Decimal(-50), max_value=Decimal(200), places=2, allow_nan=False)


@st.composite
def cases(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    cost = draw(amounts)
    erp = cost + draw(st.decimals(min_value=Decimal(0), max_value=Decimal(1000), places=4, allow_nan=False))
    plan, term = draw(
        st.sampled_from([("annual", "P1Y"), ("monthly", "P1Y"), ("monthly", "P1M"), ("triennial", "P3Y")])
    )
    rule = MarginRule(
        draw(st.sampled_from(["customer", "reseller"])),
        draw(st.sampled_from(["markup_on_cost", "discount_off_erp"])),
        draw(percents),
        account_id=draw(st.sampled_from(["c1", "r1"])),
        allow_below_cost=draw(st.booleans()),
    )
    buyer = Buyer(
        "US",
        currency,
        customer_id="c1",
        reseller_id="r1",
        monthly_surcharge_percent=draw(st.decimals(min_value=Decimal(0), max_value=Decimal(20), places=2)),
    )
    promotions = draw(
        st.lists(
            st.builds(Promotion, st.just("P"), st.decimals(min_value=Decimal(0), max_value=Decimal("0.5"), places=2)),
            max_size=2,
        )
    )
    rows = [PriceRow("US", currency, "commercial", term, plan, cost, erp, START, FAR)]
    return rows, buyer, rule, promotions, term, plan


@settings(max_examples=300, deadline=None)
@given(cases())
def test_properties_deterministic_minor_unit_and_never_below_cost_unless_allowed(case):
    rows, buyer, rule, promotions, term, plan = case
    first = price(rows, buyer, margin_rules=[rule], promotions=promotions, term=term, billing_plan=plan)
    again = price(rows, buyer, margin_rules=[rule], promotions=promotions, term=term, billing_plan=plan)
    assert first == again
    places = minor_units(buyer.currency)
    assert first.unit_price == first.unit_price.quantize(Decimal(1).scaleb(-places))
    if first.per_month is not None:
        assert first.per_month == first.per_month.quantize(Decimal(1).scaleb(-places))
        assert first.unit_price == first.per_month * (12 if term == "P1Y" else 1)  # the same every month
    if not rule.allow_below_cost:
        assert first.unit_price >= first.cost


@settings(max_examples=300, deadline=None)
@given(cases(), cases())
def test_a_resellers_layer_never_changes_its_bill_and_never_sells_below_it_unless_allowed(case, other):
    rows, buyer, csp_rule, promotions, term, plan = case
    own = other[2]  # the reseller's rule for this customer
    bought = price(rows, buyer, margin_rules=[csp_rule], promotions=promotions, term=term, billing_plan=plan)
    resold = resell(bought, own, buyer)
    assert resold == resell(bought, own, buyer)
    assert resold.cost == bought.unit_price  # the reseller's cost is what it is billed
    assert resold.unit_price == resold.unit_price.quantize(Decimal(1).scaleb(-minor_units(buyer.currency)))
    if resold.per_month is not None:
        assert resold.unit_price == resold.per_month * (12 if term == "P1Y" else 1)
    if not own.allow_below_cost:
        assert resold.unit_price >= bought.unit_price
    assert resold.margin == resold.unit_price - bought.unit_price
    assert resell(bought, None, buyer).unit_price == bought.unit_price


def test_a_resellers_markup_is_on_its_price_and_its_erp_discount_keeps_the_promotion():
    rows = [row("80", "100")]
    buyer = Buyer("US", "USD", customer_id="c1", reseller_id="r1")
    bought = price(rows, buyer, margin_rules=[MarginRule("reseller", "discount_off_erp", Decimal(15), "r1")])
    assert bought.unit_price == Decimal("85.00")
    assert resell(bought, MarginRule("customer", "markup_on_cost", Decimal(10), "c1"), buyer).unit_price == Decimal(
        "93.50"
    )
    assert resell(bought, MarginRule("customer", "discount_off_erp", Decimal(5), "c1"), buyer).unit_price == Decimal(
        "95.00"
    )
    held = resell(bought, MarginRule("customer", "discount_off_erp", Decimal(30), "c1"), buyer)
    assert (held.unit_price, held.margin) == (Decimal("85.00"), Decimal(0))
    promoted = price(
        rows,
        buyer,
        margin_rules=[MarginRule("reseller", "discount_off_erp", Decimal(15), "r1")],
        promotions=[Promotion("P", Decimal("0.10"))],
    )
    assert promoted.unit_price == Decimal("76.50")
    assert resell(promoted, MarginRule("customer", "discount_off_erp", Decimal(5), "c1"), buyer).unit_price == Decimal(
        "85.50"
    )


def test_a_resellers_layer_is_its_own_rules_customer_and_offer_then_customer_then_all_its_customers():
    offer = "CFQ7TTC0LH18:0001"
    default = MarginRule("reseller_customers", "markup_on_cost", Decimal(5), "r1", owner="r1")
    customer = MarginRule("customer", "markup_on_cost", Decimal(8), "c1", owner="r1")
    customer_offer = MarginRule("customer", "markup_on_cost", Decimal(12), "c1", offer_id=offer, owner="r1")
    elsewhere = MarginRule("customer", "markup_on_cost", Decimal(60), "c1", offer_id="OTHER:0001", owner="r1")
    # never the reseller's layer: the CSP's rules about the reseller and its customer, another reseller's default
    theirs = [
        MarginRule("customer", "markup_on_cost", Decimal(30), "c1", offer_id=offer),
        MarginRule("customer", "markup_on_cost", Decimal(31), "c1"),
        MarginRule("reseller", "markup_on_cost", Decimal(15), "r1"),
        MarginRule("product", "markup_on_cost", Decimal(20), offer_id=offer),
        MarginRule("reseller_customers", "markup_on_cost", Decimal(40), "r2", owner="r2"),
    ]

    def own(*rules: MarginRule, buyer: Buyer = US) -> MarginRule | None:
        return margin_rule([*rules, elsewhere, *theirs], offer, buyer, None, owner="r1")

    assert own(default, customer, customer_offer) == customer_offer
    assert own(default, customer) == customer
    assert own(default) == default
    assert own() is None  # the customer pays what the CSP bills the reseller
    assert (
        own(default, customer, customer_offer, buyer=Buyer("US", "USD", customer_id="c2", reseller_id="r1")) == default
    )


def test_the_csps_layer_never_uses_a_resellers_rules():
    rows = [row("80", "100")]
    reseller_rules = [
        MarginRule("reseller_customers", "markup_on_cost", Decimal(5), "r1", owner="r1"),
        MarginRule("customer", "discount_off_erp", Decimal(2), "c1", owner="r1"),
        MarginRule("customer", "markup_on_cost", Decimal(50), "c1", offer_id="CFQ7TTC0LH18:0001", owner="r1"),
    ]
    assert price(rows, margin_rules=reseller_rules).unit_price == Decimal("100.00")  # the CSP's default: ERP
    csp = MarginRule("reseller", "discount_off_erp", Decimal(15), "r1")
    bought = price(rows, margin_rules=[*reseller_rules, csp])
    assert bought.unit_price == Decimal("85.00")
    mine = margin_rule([*reseller_rules, csp], "CFQ7TTC0LH18:0001", US, None, owner="r1")
    assert mine == reseller_rules[2]
    assert resell(bought, mine, US).unit_price == Decimal("127.50")  # 85 × 1.50
    everyone = resell(bought, reseller_rules[0], US)
    assert everyone.unit_price == Decimal("89.25")
    assert "Your margin rule for all your customers: 5% markup on your price" in everyone.explanation
