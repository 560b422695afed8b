"""NCE_RULES 3: the checks' order and their arithmetic, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from app.billing.rules import term_commitment
from app.orders.rules import CHECKS, Line, Situation, first_refusal, is_month_end, waves

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 23)
OK = Situation(
    account_status="active",
    payment_hold=False,
    has_mca=True,
    existing_tenant=False,
    gdap_active=False,
    qualification="commercial",
    allowed_plans=None,
    currency="USD",
    today=TODAY,
)
BASIC = Line("B:0001", "Basic", "license", "commercial", 2, "P1Y", "monthly", 1, 300, tenant_max=300)
ADDON = Line("C:0002", "Copilot", "license", "commercial", 1, "P1Y", "annual", 1, 10000, is_addon=True,
             prerequisites=("B:0001",))  # fmt: skip

# one situation and line per check, each breaking only that check, in NCE_RULES 3's order
BROKEN = [
    ("payment_hold", replace(OK, payment_hold=True), BASIC),
    ("mca_required", replace(OK, has_mca=False), BASIC),
    ("gdap_required", replace(OK, existing_tenant=True), BASIC),
    ("segment", OK, replace(BASIC, segment="education")),
    ("quantity_range", OK, replace(BASIC, quantity=301)),
    ("tenant_limit", replace(OK, tenant_seats={"B:0001": 299}), BASIC),
    ("addon_without_base", OK, replace(ADDON, prerequisites=("X:0001",))),
    ("billing_plan_unavailable", replace(OK, allowed_plans=frozenset({"annual"})), BASIC),
    ("credit_limit", replace(OK, credit_limit=Decimal(10), exposure=Decimal(5)), replace(BASIC, commitment=Decimal(6))),
    ("coterm_end_date", OK, replace(BASIC, coterm_end_date=date(2027, 5, 17))),
    ("trial_used", replace(OK, trials_used=frozenset({"T:0007"})),
     Line("T:0007", "Trial", "trial", "commercial", 1, "P1M", "none", 1, 25)),
]  # fmt: skip


def test_there_is_one_check_per_rule():
    assert len(CHECKS) == len(BROKEN) == 11


@pytest.mark.parametrize(("code", "situation", "line"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_check_refuses_alone(code, situation, line):
    assert first_refusal(situation, [line]).code == code


def test_an_order_with_nothing_wrong_passes():
    assert first_refusal(OK, [BASIC, ADDON]) is None


def test_a_linked_tenant_the_csp_already_manages_needs_no_gdap_of_its_own():
    linked = replace(OK, existing_tenant=True)
    assert first_refusal(linked, [BASIC]).code == "gdap_required"  # new to the CSP
    assert first_refusal(replace(linked, gdap_active=True), [BASIC]) is None
    assert first_refusal(replace(linked, tenant_managed_by_csp=True), [BASIC]) is None  # created, or another's GDAP


def test_the_earliest_broken_rule_answers_whatever_else_is_broken():
    for n, (code, situation, line) in enumerate(BROKEN):
        # break every later rule too: the answer is still this one
        worse = situation
        for _, later, _ in BROKEN[n + 1 :]:
            worse = _merge(worse, later)
        assert first_refusal(worse, [line]).code == code


def _merge(left: Situation, right: Situation) -> Situation:
    changed = {k: v for k, v in vars(right).items() if v != getattr(OK, k)}
    return replace(left, **changed)


def test_messages_are_nce_rules_text():
    assert str(first_refusal(replace(OK, has_mca=False), [BASIC])) == (
        "The customer must accept the Microsoft Customer Agreement before ordering."
    )
    assert str(first_refusal(OK, [replace(BASIC, quantity=0)])) == (
        "Item 'Basic' supports quantity range between 1 and 300."
    )
    assert str(first_refusal(replace(OK, tenant_seats={"B:0001": 299}), [BASIC])) == (
        "Item 'Basic' exceeds the tenant limit of 300 seats; 1 remaining."
    )
    assert str(first_refusal(OK, [replace(ADDON, prerequisites=("X:0001",))])) == (
        "The addon is not purchasable without a compatible base subscription"
    )
    assert str(first_refusal(replace(OK, allowed_plans=frozenset({"annual"})), [BASIC])) == (
        "The monthly billing plan is not available for this account."
    )
    refusal = first_refusal(
        replace(OK, credit_limit=Decimal("100"), exposure=Decimal("57.605")), [replace(BASIC, commitment=Decimal(50))]
    )
    assert str(refusal) == "This order exceeds the available credit of 42.40 USD."


def test_the_whole_order_counts_against_the_tenant_limit_and_the_credit():
    two = [replace(BASIC, quantity=200), replace(BASIC, quantity=101)]
    assert first_refusal(OK, two).code == "tenant_limit"
    within = replace(OK, credit_limit=Decimal(10))
    assert first_refusal(within, [replace(BASIC, commitment=Decimal(5))] * 2) is None
    assert first_refusal(within, [replace(BASIC, commitment=Decimal(5))] * 3).code == "credit_limit"


def test_an_addon_may_come_with_its_base_and_then_waits_for_it():
    assert first_refusal(OK, [ADDON, BASIC]) is None
    assert waves([ADDON, BASIC], frozenset()) == [1, 0]
    assert waves([ADDON], frozenset({"B:0001"})) == [0]


def test_coterm_end_dates():
    assert is_month_end(date(2027, 2, 28))
    assert not is_month_end(date(2028, 2, 28))  # a leap year
    assert first_refusal(OK, [replace(BASIC, coterm_end_date=date(2027, 10, 31))]) is None
    existing = replace(OK, subscription_end_dates=frozenset({date(2027, 5, 17)}))
    assert first_refusal(existing, [replace(BASIC, coterm_end_date=date(2027, 5, 17))]) is None
    late = first_refusal(OK, [replace(BASIC, coterm_end_date=date(2027, 12, 31))])
    assert str(late) == "The end date of 'Basic' must fall within its first term, by 2027-11-22."


def test_a_terms_commitment_sums_its_periods():
    # $4/month for a year: twelve installments
    assert term_commitment(TODAY, date(2027, 11, 22), "P1Y", "monthly", Decimal(48), "USD") == Decimal("48.00")
    # cut short to a month end: eleven months, then 9 days (Oct 23-31) of a 31-day period pro rata
    short = term_commitment(TODAY, date(2027, 10, 31), "P1Y", "monthly", Decimal(48), "USD")
    assert short == Decimal(44) + Decimal("1.16")
    assert term_commitment(TODAY, date(2027, 11, 22), "P1Y", "annual", Decimal(48), "USD") == Decimal("48.00")
