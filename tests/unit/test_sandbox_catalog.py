import csv
import io
import re
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import pytest

from app.partner_center.sandbox import catalog, pricing

pytestmark = pytest.mark.unit

CHANGE = date(2026, 12, 1)
BASIC = catalog.offer_by_key("CFQ7TTC0LH18", "0001")
E3 = catalog.offer_by_key("CFQ7TTC0LFLX", "0001")
COPILOT = catalog.offer_by_key("CFQ7TTC0MM8R", "0002")
SHEET_HEADER = (
    '"ProductTitle","ProductId","SkuId","SkuTitle","Publisher","SkuDescription","UnitOfMeasure","TermDuration",'
    '"BillingPlan","Market","Currency","UnitPrice","PricingTierRangeMin","PricingTierRangeMax","EffectiveStartDate",'
    '"EffectiveEndDate","Tags","ERP Price","Segment"'
)


def _round(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


@cache
def _sheet(market: str, change: date) -> tuple[dict[str, str], ...]:
    return tuple(catalog.price_sheet_rows(market, change))


def _rows(market="US", offer=None, term=None, plan=None, change=CHANGE):
    rows = _sheet(market, change)
    return [
        r
        for r in rows
        if (offer is None or (r["ProductId"], r["SkuId"]) == (offer.product_id, offer.sku_id))
        and (term is None or r["TermDuration"] == term)
        and (plan is None or r["BillingPlan"] == plan)
    ]


def _price(offer, term, plan, market="US", *, column="UnitPrice", at="old"):
    rows = _rows(market, offer, term, plan)
    row = rows[0] if at == "old" else rows[-1]
    return Decimal(row[column])


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p")  # noqa: DTZ007 - the sheet's naive UTC


# --- The offers -------------------------------------------------------------------------------------------------


def test_the_catalog_ships_at_least_45_offers_each_identified_once():
    keys = [o.key for o in catalog.OFFERS]
    assert len(keys) >= 45
    assert len(set(keys)) == len(keys)
    assert len({catalog.catalog_item_id(o) for o in catalog.OFFERS}) == len(keys)


def test_ids_have_microsofts_shapes():
    for offer in catalog.OFFERS:
        assert re.fullmatch(r"[0-9A-Z]{12}", offer.product_id), offer.key
        assert re.fullmatch(r"[0-9A-Z]{4}", offer.sku_id), offer.key
        assert re.fullmatch(r"[0-9A-Z]{12}", offer.availability_id), offer.key
        assert str(uuid.UUID(offer.provisioning_id)) == offer.provisioning_id
        assert catalog.catalog_item_id(offer) == f"{offer.product_id}:{offer.sku_id}:{offer.availability_id}"
        assert offer.publisher == "Microsoft Corporation"


def test_the_ids_named_in_the_facts_sheet_are_microsofts():
    expected = {
        ("CFQ7TTC0LH18", "0001"): "Microsoft 365 Business Basic",
        ("CFQ7TTC0LDPB", "0001"): "Microsoft 365 Business Standard",
        ("CFQ7TTC0LCHC", "0002"): "Microsoft 365 Business Premium",
        ("CFQ7TTC0LFLX", "0001"): "Microsoft 365 E3",
        ("CFQ7TTC0LFLZ", "0002"): "Microsoft 365 E5",
        ("CFQ7TTC0LF8Q", "0001"): "Office 365 E1",
        ("CFQ7TTC0LF8R", "0001"): "Office 365 E3",
        ("CFQ7TTC0LH16", "0001"): "Exchange Online (Plan 1)",
        ("CFQ7TTC0HD33", "0003"): "Visio Plan 1",
        ("CFQ7TTC0HL8W", "0001"): "Power BI Premium Per User",
    }
    for (product_id, sku_id), title in expected.items():
        offer = catalog.offer_by_key(product_id, sku_id)
        assert offer is not None
        assert offer.sku_title == title
    assert BASIC.provisioning_id == "3b555118-da6a-4418-894f-7df1e2096870"  # facts 4.2 sample
    assert BASIC.sku_part_number == "O365_BUSINESS_ESSENTIALS"


def test_availability_ids_are_stable_and_depend_on_offer_and_segment():
    rebuilt = catalog.Offer(
        product_id=BASIC.product_id,
        sku_id=BASIC.sku_id,
        product_title="x",
        sku_title="x",
        description="x",
        kind="license",
        segment="commercial",
        list_price_usd=Decimal(1),
        plans=catalog.ANNUAL,
    )
    assert rebuilt.availability_id == BASIC.availability_id
    other_segment = catalog.Offer(**{**_fields(rebuilt), "segment": "nonprofit"})
    assert other_segment.availability_id != BASIC.availability_id


def _fields(offer):
    return {
        name: getattr(offer, name)
        for name in (
            "product_id",
            "sku_id",
            "product_title",
            "sku_title",
            "description",
            "kind",
            "segment",
            "list_price_usd",
            "plans",
        )
    }


def test_offer_lookup_normalises_sku_ids_without_leading_zeros():
    # price sheets sometimes print "1" for "0001" (facts 5.2)
    assert catalog.offer_by_key("CFQ7TTC0LH33", "1").sku_title == "Dynamics 365 Business Central External Accountant"
    assert catalog.offer_by_key("cfq7ttc0lh18", "0001") is BASIC
    assert catalog.offer_by_key("CFQ7TTC0LH18", "0099") is None


def test_kinds_and_segments_are_the_rules_ones_and_all_present():
    kinds = Counter(o.kind for o in catalog.OFFERS)
    segments = Counter(o.segment for o in catalog.OFFERS)
    assert set(kinds) == {"license", "software_subscription", "perpetual", "trial"}
    assert set(segments) == {"commercial", "education", "government", "nonprofit"}


def test_money_is_decimal_never_float():
    for offer in catalog.OFFERS:
        assert isinstance(offer.list_price_usd, Decimal)
        assert isinstance(offer.cost_factor, Decimal)
        assert offer.list_price_usd >= 0
    assert all(isinstance(f, Decimal) for f in catalog.FX_FROM_USD.values())


def test_every_prerequisite_and_upgrade_target_is_in_the_catalog():
    for offer in catalog.OFFERS:
        for key in (*offer.prerequisite_skus, *offer.upgrade_targets):
            assert catalog.offer_by_key(*key.split(":")) is not None, f"{offer.key} refers to missing {key}"


def test_add_ons_have_prerequisites_and_others_none():
    addons = [o for o in catalog.OFFERS if o.is_addon]
    assert len(addons) >= 6
    for offer in catalog.OFFERS:
        assert bool(offer.prerequisite_skus) == offer.is_addon, offer.key
        for key in offer.prerequisite_skus:
            assert not catalog.offer_by_key(*key.split(":")).is_trial


def test_upgrade_targets_are_only_upgrades():
    for offer in catalog.OFFERS:
        for key in offer.upgrade_targets:
            target = catalog.offer_by_key(*key.split(":"))
            assert target.key != offer.key
            assert target.kind == "license"
            assert target.segment == offer.segment
            assert target.list_price_usd > offer.list_price_usd, f"{offer.key} -> {key} is not an upgrade"
    assert set(BASIC.upgrade_targets) >= {"CFQ7TTC0LDPB:0001", "CFQ7TTC0LCHC:0002"}
    assert E3.upgrade_targets == ("CFQ7TTC0LFLZ:0002",)


def test_microsofts_low_limit_skus_and_the_small_business_cap():
    # facts 4.3: External Accountant max 3, IoT Intelligence 0002 max 10 and 0001 max 6
    assert catalog.offer_by_key("CFQ7TTC0LH33", "0001").max_quantity == 3
    assert catalog.offer_by_key("CFQ7TTC0HD4F", "0002").max_quantity == 10
    assert catalog.offer_by_key("CFQ7TTC0HD4F", "0001").max_quantity == 6
    for key in ("CFQ7TTC0LH18:0001", "CFQ7TTC0LDPB:0001", "CFQ7TTC0LCHC:0002"):
        offer = catalog.offer_by_key(*key.split(":"))
        assert (offer.max_quantity, offer.tenant_max) == (300, 300)
    assert E3.tenant_max is None


def test_quantities_are_consistent():
    for offer in catalog.OFFERS:
        assert 1 <= offer.min_quantity <= offer.max_quantity, offer.key
        if offer.tenant_max is not None:
            assert offer.max_quantity <= offer.tenant_max, offer.key
    assert catalog.offer_by_key("CFQ7TTC0LH3D", "0001").min_quantity == 20  # Dynamics 365 Finance


def test_only_the_hybrid_benefit_sku_needs_an_attestation():
    attested = [o for o in catalog.OFFERS if o.requires_attestation]
    assert [o.sku_title for o in attested] == [
        "Windows 365 Business 2 vCPU, 4 GB, 128 GB (with Windows Hybrid Benefit)"
    ]


def test_trials_are_one_free_month_without_billing_and_25_seats():
    trials = [o for o in catalog.OFFERS if o.kind == "trial"]
    assert len(trials) >= 3
    for offer in trials:
        assert offer.is_trial
        assert offer.plans == (("P1M", "none"),)
        assert offer.max_quantity == 25
        assert "Trial" in offer.tags
    for row in _rows("JP"):
        offer = catalog.offer_by_key(row["ProductId"], row["SkuId"])
        if offer.is_trial:
            assert (row["TermDuration"], row["BillingPlan"], row["UnitPrice"], row["ERP Price"]) == (
                "P1M",
                "None",
                "0",
                "0",
            )
            assert row["Tags"] == "License; Trial"
    assert not any(o.is_trial for o in catalog.OFFERS if o.kind != "trial")


def test_software_subscriptions_have_one_and_three_year_terms_billed_upfront():
    subscriptions = [o for o in catalog.OFFERS if o.kind == "software_subscription"]
    assert subscriptions
    for offer in subscriptions:
        assert {term for term, _ in offer.plans} == {"P1Y", "P3Y"}
        assert {cycle for _, cycle in offer.plans} <= {"annual", "triennial"}
        assert ("P3Y", "triennial") in offer.plans
        one_year = _price(offer, "P1Y", "Annual", column="ERP Price")
        assert _price(offer, "P3Y", "Triennial", column="ERP Price") == one_year * 3
    windows_server = catalog.offer_by_key("DG7GMGF0DVSV", "000P")
    assert windows_server.kind == "software_subscription"
    assert _price(windows_server, "P1Y", "Annual", column="ERP Price") == Decimal(48)


def test_perpetual_licences_are_bought_once_without_a_term():
    perpetual = [o for o in catalog.OFFERS if o.kind == "perpetual"]
    assert perpetual
    for offer in perpetual:
        assert offer.plans == ((None, "one_time"),)
        assert offer.product_id.startswith("DG7GMGF0")
        (row,) = _rows("US", offer)
        assert (row["TermDuration"], row["BillingPlan"]) == ("", "OneTime")
        assert Decimal(row["ERP Price"]) == offer.list_price_usd
        assert Decimal(row["UnitPrice"]) == _round(offer.list_price_usd * Decimal("0.8"))


def test_one_month_terms_only_where_microsoft_sells_them():
    # facts 4.2: Intune and Exchange stand-alone have no P1M
    for key in ("CFQ7TTC0LCH4:0009", "CFQ7TTC0LH16:0001"):
        offer = catalog.offer_by_key(*key.split(":"))
        assert ("P1M", "monthly") not in offer.plans
    assert ("P1M", "monthly") in BASIC.plans
    dynamics = catalog.offer_by_key("CFQ7TTC0LH2X", "0001")
    assert {("P3Y", "monthly"), ("P3Y", "annual"), ("P3Y", "triennial")} <= set(dynamics.plans)


# --- Prices ------------------------------------------------------------------------------------------------------


def test_business_basic_in_dollars():
    # ERP $6 a month on an annual term; the partner pays 80% (facts 10C: 115.2 of 144)
    assert _price(BASIC, "P1Y", "Annual", column="ERP Price") == Decimal("72")
    assert _price(BASIC, "P1Y", "Annual") == Decimal("57.6")
    assert _price(BASIC, "P1Y", "Monthly", column="ERP Price") == Decimal("75.6")  # 5% more paid monthly
    assert _price(BASIC, "P1Y", "Monthly") == Decimal("60.48")
    assert _price(BASIC, "P1M", "Monthly", column="ERP Price") == Decimal("7.2")  # one month, 20% more
    assert _price(BASIC, "P1M", "Monthly") == Decimal("5.76")
    assert _price(E3, "P1Y", "Annual") == Decimal("345.6")
    assert _price(E3, "P1Y", "Annual", column="ERP Price") == Decimal("432")


def test_unit_price_is_the_partners_cost_80_percent_of_erp_in_every_market():
    for market, currency in catalog.MARKETS.items():
        places = "1" if currency == "JPY" else "0.01"
        for row in _rows(market):
            offer = catalog.offer_by_key(row["ProductId"], row["SkuId"])
            if any(
                (t, catalog.BILLING_PLAN_LABELS[c]) == (row["TermDuration"], row["BillingPlan"])
                for t, c, _ in offer.term_costs_usd
            ):
                continue  # a cost set outright (below)
            expected = _round(Decimal(row["ERP Price"]) * offer.cost_factor, places)
            assert Decimal(row["UnitPrice"]) == expected, row
    assert sum(o.cost_factor != Decimal("0.80") for o in catalog.OFFERS) == 1
    assert _price(COPILOT, "P1Y", "Annual") == Decimal("306")  # 360 less 15%, Copilot's own discount
    # Exchange Online Plan 1 costs exactly $4 a month billed monthly: Microsoft's worked proration example
    exchange = catalog.offer_by_key("CFQ7TTC0LH16", "0001")
    assert _price(exchange, "P1Y", "Monthly") == Decimal("48")


def test_annual_term_billed_monthly_costs_five_percent_more():
    for offer in catalog.OFFERS:
        if ("P1Y", "annual") in offer.plans and ("P1Y", "monthly") in offer.plans:
            for at in ("old", "new"):
                annual = _price(offer, "P1Y", "Annual", column="ERP Price", at=at)
                monthly = _price(offer, "P1Y", "Monthly", column="ERP Price", at=at)
                assert monthly == _round(annual * Decimal("1.05")), offer.key


def test_one_month_term_costs_twenty_percent_more_per_month():
    for offer in catalog.OFFERS:
        if ("P1M", "monthly") in offer.plans and offer.kind == "license":
            annual = _price(offer, "P1Y", "Annual", column="ERP Price")
            assert _price(offer, "P1M", "Monthly", column="ERP Price") == _round(annual / 12 * Decimal("1.2"))


def test_three_year_terms_keep_the_annual_terms_monthly_price_for_36_months():
    premium = catalog.offer_by_key("CFQ7TTC0LH2X", "0002")  # Business Central Premium, $110 a month
    assert _price(premium, "P3Y", "Annual", column="ERP Price") == Decimal(110 * 36)
    assert _price(premium, "P3Y", "Triennial", column="ERP Price") == Decimal(110 * 36)
    assert _price(premium, "P3Y", "Monthly", column="ERP Price") == _round(Decimal(110 * 36) * Decimal("1.05"))
    assert _price(premium, "P3Y", "Triennial") == Decimal("3168")


def test_jpy_prices_have_no_decimals_and_other_currencies_at_most_two():
    for row in _rows("JP"):
        assert "." not in row["UnitPrice"], row
        assert "." not in row["ERP Price"], row
        assert row["Currency"] == "JPY"
    assert _price(BASIC, "P1Y", "Annual", "JP", column="ERP Price") == Decimal(10872)  # 6 x 151 x 12
    assert _price(BASIC, "P1Y", "Annual", "JP") == Decimal(8698)  # 8697.6 rounded half-up to the yen
    for market in ("US", "GB", "DE", "AU"):
        for row in _rows(market):
            assert Decimal(row["UnitPrice"]).as_tuple().exponent >= -2


def test_local_prices_convert_the_usd_list_per_currency():
    assert _price(BASIC, "P1Y", "Annual", "GB", column="ERP Price") == Decimal("56.88")  # 6 x 0.79 x 12
    assert _price(BASIC, "P1Y", "Annual", "GB") == Decimal("45.5")  # 45.504
    assert _price(BASIC, "P1Y", "Annual", "DE") == _price(BASIC, "P1Y", "Annual", "FR")
    assert {r["Currency"] for r in _rows("IE")} == {"EUR"}
    assert set(catalog.MARKETS.values()) == set(catalog.FX_FROM_USD)


def test_price_sheet_prints_numbers_like_microsoft():
    assert catalog.sheet_number(Decimal("115.20")) == "115.2"
    assert catalog.sheet_number(Decimal("144.00")) == "144"
    assert catalog.sheet_number(Decimal("8698")) == "8698"
    assert catalog.sheet_number(Decimal("0.00")) == "0"
    assert catalog.sheet_number(Decimal("1E+3")) == "1000"


def test_sheet_times_follow_microsofts_sample():
    assert catalog.sheet_time(datetime(2019, 2, 1)) == "2/1/2019 12:00:00 AM"  # noqa: DTZ001
    assert catalog.sheet_time(datetime(2021, 2, 4, 20, 35, 31)) == "2/4/2021 8:35:31 PM"  # noqa: DTZ001
    assert catalog.sheet_time(datetime(2026, 6, 1, 12, 0, 5)) == "6/1/2026 12:00:05 PM"  # noqa: DTZ001


# --- Price changes -----------------------------------------------------------------------------------------------


def test_at_least_five_documented_price_changes_including_a_decrease():
    assert len(catalog.PRICE_CHANGES) >= 5
    assert any(f < 1 for f in catalog.PRICE_CHANGES.values())
    for key in catalog.PRICE_CHANGES:
        assert catalog.offer_by_key(*key.split(":")) is not None


def test_a_changed_offer_has_two_rows_split_exactly_at_the_change_date():
    old, new = _rows("US", BASIC, "P1Y", "Annual")
    assert old["EffectiveStartDate"] == "1/1/2025 12:00:00 AM"
    assert old["EffectiveEndDate"] == "11/30/2026 11:59:59 PM"
    assert new["EffectiveStartDate"] == "12/1/2026 12:00:00 AM"
    assert new["EffectiveEndDate"] == "12/31/9999 11:59:59 PM"
    assert _parse(new["EffectiveStartDate"]) - _parse(old["EffectiveEndDate"]) == timedelta(seconds=1)
    assert (Decimal(old["ERP Price"]), Decimal(new["ERP Price"])) == (Decimal("72"), Decimal("75.6"))
    assert Decimal(new["UnitPrice"]) == Decimal("60.48")


def test_the_decrease_lowers_the_price():
    sales_pro = catalog.offer_by_key("CFQ7TTC0LH3B", "0001")
    assert catalog.PRICE_CHANGES[sales_pro.key] < 1
    old, new = _rows("US", sales_pro, "P1Y", "Annual")
    assert Decimal(new["UnitPrice"]) < Decimal(old["UnitPrice"])
    assert Decimal(new["ERP Price"]) == _round(Decimal(65 * 12) * Decimal("0.95"))


def test_every_other_offer_has_one_row_per_plan_without_end():
    rows = _rows("US")
    per_plan = Counter((r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"]) for r in rows)
    for (product_id, sku_id, _term, _plan), count in per_plan.items():
        changed = f"{product_id}:{sku_id}" in catalog.PRICE_CHANGES
        assert count == (2 if changed else 1)
    for row in rows:
        if f"{row['ProductId']}:{row['SkuId']}" not in catalog.PRICE_CHANGES:
            assert (row["EffectiveStartDate"], row["EffectiveEndDate"]) == (
                "1/1/2025 12:00:00 AM",
                "12/31/9999 11:59:59 PM",
            )


def test_the_change_date_follows_the_callers_choice():
    old, new = _rows("US", BASIC, "P1Y", "Annual", change=date(2027, 3, 1))
    assert old["EffectiveEndDate"] == "2/28/2027 11:59:59 PM"
    assert new["EffectiveStartDate"] == "3/1/2027 12:00:00 AM"


def test_the_sandbox_pricing_picks_the_row_in_force():
    before = datetime(2026, 11, 30, 23, 59, 59)  # noqa: DTZ001
    after = datetime(2026, 12, 1)  # noqa: DTZ001
    price = pricing.unit_price
    assert price("CFQ7TTC0LH18", "0001", "P1Y", "annual", "US", CHANGE, before) == Decimal("57.6")
    assert price("CFQ7TTC0LH18", "0001", "P1Y", "annual", "US", CHANGE, after) == Decimal("60.48")
    assert price("DG7GMGF0PN5D", "0002", None, "one_time", "US", CHANGE, after) == Decimal("452")


@pytest.mark.parametrize("bad", [date(2026, 12, 2), date(2024, 12, 1), date(2025, 1, 1)])
def test_a_change_date_must_be_a_first_of_the_month_after_the_sheet_starts(bad):
    with pytest.raises(ValueError, match=r"first of a month|after the sheet starts"):
        catalog.price_sheet_rows("US", bad)


def test_unknown_markets_and_segments_are_refused():
    with pytest.raises(ValueError, match="market 'XX'"):
        catalog.price_sheet_rows("XX", CHANGE)
    with pytest.raises(ValueError, match="Unknown segment"):
        catalog.price_sheet_rows("US", CHANGE, segment_filter="charity")


# --- The sheet ---------------------------------------------------------------------------------------------------


def test_rows_have_microsofts_columns_in_order_and_segment_last():
    for row in _rows("FR"):
        assert tuple(row) == catalog.COLUMNS
        assert row["Market"] == "FR"
        assert row["BillingPlan"] in {"Monthly", "Annual", "Triennial", "None", "OneTime"}
        assert row["Segment"] in {"Commercial", "Education", "Government", "Charity"}
        assert row["UnitOfMeasure"] == row["PricingTierRangeMin"] == row["PricingTierRangeMax"] == ""


def test_every_market_lists_every_plan_of_every_offer():
    expected = sum(len(o.plans) * (2 if o.key in catalog.PRICE_CHANGES else 1) for o in catalog.OFFERS)
    for market in catalog.MARKETS:
        assert len(catalog.price_sheet_rows(market, CHANGE)) == expected


def test_segment_filter_keeps_one_segments_rows():
    rows = catalog.price_sheet_rows("US", CHANGE, segment_filter="education")
    assert rows
    assert {r["Segment"] for r in rows} == {"Education"}
    both = catalog.price_sheet_rows("US", CHANGE, segment_filter=["government", "nonprofit"])
    assert {r["Segment"] for r in both} == {"Government", "Charity"}


def test_csv_has_the_exact_header_and_parses_back():
    text = catalog.price_sheet_csv("JP", CHANGE)
    lines = text.splitlines()
    assert lines[0] == SHEET_HEADER
    for line in lines:
        # every field quoted, like the sample
        assert line.startswith('"')
        assert line.endswith('"')
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == catalog.COLUMNS
    assert list(reader) == catalog.price_sheet_rows("JP", CHANGE)


def test_csv_quotes_commas_and_quotes_in_text():
    text = catalog.price_sheet_csv("US", CHANGE)
    rows = list(csv.DictReader(io.StringIO(text)))
    w365 = [r for r in rows if r["SkuTitle"].startswith("Windows 365 Business 2 vCPU, 4 GB, 128 GB (with")]
    assert w365
    assert w365[0]["ProductTitle"] == "Windows 365 Business"


# --- Promotions --------------------------------------------------------------------------------------------------

TODAY = date(2026, 11, 23)


def test_promotions_refer_to_sold_plans_and_look_like_microsofts():
    assert len(catalog.PROMOTIONS) >= 3
    assert len({p.id for p in catalog.PROMOTIONS}) == len(catalog.PROMOTIONS)
    for promotion in catalog.PROMOTIONS:
        assert re.fullmatch(r"[0-9A-Z]{12}:\d{4}:[0-9A-Z]{12}", promotion.id)
        for product in promotion.products:
            offer = catalog.offer_by_key(product.product_id, product.sku_id)
            assert (product.term, product.billing_cycle) in offer.plans
            assert Decimal(0) < product.percent < Decimal(1)


def test_visio_plan_1_gets_5_percent_automatically_on_annual_billing():
    visio = catalog.promotion_by_id("39NFJQT1PJQB:0001:39NFJQT1Q5KN")
    assert visio.is_auto_applicable
    assert visio.discount_for("CFQ7TTC0HD33", "0003", "P1Y", "Annual") == Decimal("0.05")
    assert visio.discount_for("CFQ7TTC0HD33", "0003", "P1Y", "monthly") is None
    resource = catalog.promotion_resource(visio, TODAY)
    assert resource["properties"] == {"isAutoApplicable": True}
    assert resource["requiredProducts"] == [
        {
            "productId": "CFQ7TTC0HD33",
            "skuId": "0003",
            "term": {"duration": "P1Y", "billingCycle": "Annual"},
            "pricingPolicies": [{"policyType": "PercentDiscount", "value": "0.05"}],
        }
    ]
    assert resource["startDate"] == "2026-10-01T00:00:00+00:00"
    assert resource["endDate"] == "2026-12-31T23:59:59+00:00"
    assert "promotionConstraints" not in resource


def test_business_standard_first_purchase_has_seat_constraints():
    promotion = next(p for p in catalog.PROMOTIONS if p.first_purchase_only)
    assert (promotion.products[0].product_id, promotion.products[0].sku_id) == ("CFQ7TTC0LDPB", "0001")
    assert not promotion.is_auto_applicable
    constraints = catalog.promotion_resource(promotion, TODAY)["promotionConstraints"]
    assert constraints["seatConstraints"] == [{"minSeats": 1, "maxSeats": 300, "type": "SubscriptionQuantity"}]
    assert constraints["eligibilityConstraints"] == [{"isApplicable": True, "type": "FirstPurchase"}]
    assert catalog.promotion_resource(promotion, TODAY)["requiredProducts"][0]["pricingPolicies"][0]["value"] == "0.10"


def test_a_promotion_for_three_year_terms_only():
    three_year = [p for p in catalog.PROMOTIONS if {x.term for x in p.products} == {"P3Y"}]
    assert three_year
    promotion = three_year[0]
    product = promotion.products[0]
    assert promotion.discount_for(product.product_id, product.sku_id, "P1Y", "annual") is None
    assert promotion.discount_for(product.product_id, product.sku_id, "P3Y", "triennial") == Decimal("0.15")


def test_promotion_dates_move_with_today_and_only_current_ones_are_listed():
    active = catalog.active_promotions(TODAY)
    assert len(active) >= 3
    upcoming = [p for p in catalog.PROMOTIONS if p not in active]
    assert upcoming
    for promotion in active:
        start, end = promotion.window(TODAY)
        assert start.date() <= TODAY <= end.date()
    start, _ = upcoming[0].window(TODAY)
    assert start.date() == date(2026, 12, 1)
    # its dates move with the clock too: listed by id, never among the active ones
    assert catalog.promotion_by_id(upcoming[0].id) is upcoming[0]
    assert upcoming[0] not in catalog.active_promotions(date(2027, 6, 30))
    later = catalog.promotion_resource(catalog.PROMOTIONS[0], date(2027, 5, 9))
    assert later["startDate"].startswith("2027-04-01")


def test_promotions_for_a_cart_line():
    found = catalog.promotions_for("CFQ7TTC0HD33", "3", "P1Y", "annual", TODAY)
    assert [(p.id, percent) for p, percent in found] == [("39NFJQT1PJQB:0001:39NFJQT1Q5KN", Decimal("0.05"))]
    assert catalog.promotions_for("CFQ7TTC0LH18", "0001", "P1Y", "annual", TODAY) == ()
    assert catalog.promotion_by_id("NOPE") is None
