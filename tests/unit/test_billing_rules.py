"""The pure billing rules (NCE_RULES 5): document kinds and numbers, tax with reverse charge, payment refusals, the
invoice's state, and the non-payment steps counted from the due day or the last partial payment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.billing import rules
from app.billing.gateways import card_errors, luhn_ok

pytestmark = pytest.mark.unit

VAT_FR = rules.TaxRate("FR", "TVA", Decimal("20"), reverse_charge=True)
VAT_GB = rules.TaxRate("GB", "VAT", Decimal("20"))


def test_numbers_run_per_kind_and_year_with_six_digits():
    assert rules.series("invoice", date(2026, 12, 31)) == "INV-2026"
    assert rules.series("credit_note", date(2027, 1, 1)) == "CN-2027"
    assert rules.document_number("INV-2026", 123) == "INV-2026-000123"


@pytest.mark.parametrize(("net", "kind"), [("10.00", "invoice"), ("0", "invoice"), ("-0.01", "credit_note")])
def test_a_negative_result_is_a_credit_note(net, kind):
    assert rules.document_kind(Decimal(net)) == kind


def test_tax_at_home_reverse_charged_across_the_border_for_businesses_and_none_unconfigured():
    assert rules.tax_for("FR", "FR", VAT_FR, business=True) == rules.Tax("TVA", Decimal("20"))
    reverse = rules.Tax("TVA, reverse charge", Decimal(0), reverse_charge=True)
    assert rules.tax_for("NL", "FR", VAT_FR, business=True) == reverse
    assert rules.tax_for("NL", "FR", VAT_FR, business=False) == rules.Tax("TVA", Decimal("20"))  # no VAT id: B2C
    assert rules.tax_for("NL", "GB", VAT_GB, business=True) == rules.Tax("VAT", Decimal("20"))  # not configured
    assert rules.tax_for("NL", "US", None, business=True) == rules.NO_TAX


@pytest.mark.parametrize(
    ("subtotal", "rate", "currency", "tax"),
    [("33.33", "20", "EUR", "6.67"), ("-40.00", "19", "EUR", "-7.60"), ("999", "8.875", "JPY", "89"),
     ("0.05", "10", "EUR", "0.01"), ("12.345", "0", "BHD", "0.000")],
)  # fmt: skip
def test_tax_is_rounded_once_per_invoice_in_the_minor_unit(subtotal, rate, currency, tax):
    assert rules.tax_amount(Decimal(subtotal), Decimal(rate), currency) == Decimal(tax)


def test_the_invoice_state_follows_what_was_paid():
    assert rules.invoice_status(Decimal("100"), Decimal(0)) == "issued"
    assert rules.invoice_status(Decimal("100"), Decimal("0.01")) == "partially_paid"
    assert rules.invoice_status(Decimal("100"), Decimal("100")) == "paid"
    assert rules.invoice_status(Decimal("-30"), Decimal("30")) == "paid"  # a credit note used up
    assert rules.invoice_status(Decimal(0), Decimal(0)) == "paid"  # nothing to pay


def test_a_payment_is_more_than_zero_in_the_minor_unit_and_never_above_the_balance():
    assert rules.payment_refusal(Decimal("60.00"), Decimal("60"), "EUR") is None
    assert rules.payment_refusal(Decimal("0"), Decimal("60"), "EUR") == "A payment is more than zero."
    assert rules.payment_refusal(Decimal("1.005"), Decimal("60"), "EUR") == "EUR amounts have at most 2 decimals."
    assert rules.payment_refusal(Decimal("60.01"), Decimal("60.0000"), "EUR") == (
        "This payment of 60.01 EUR is more than the invoice's balance of 60.00 EUR. "
        "A payment can never exceed the balance."
    )


POLICY = rules.DunningPolicy(reminder_days=(7, 1), suspend_after_days=14)


@pytest.mark.parametrize(
    ("today", "steps"),
    [
        (date(2027, 2, 15), []),  # the due day itself
        (date(2027, 2, 16), ["reminder:1"]),
        (date(2027, 2, 22), ["reminder:1", "reminder:7"]),
        (date(2027, 3, 1), ["reminder:1", "reminder:7", "suspend"]),
    ],
)
def test_the_steps_due_by_days_overdue(today, steps):
    assert rules.dunning_steps(date(2027, 2, 15), POLICY, today) == steps


def test_each_step_falls_due_on_its_own_day_counted_from_the_anchor():
    anchor = date(2027, 1, 15)
    steps = rules.dunning_steps(anchor, POLICY, date(2027, 1, 31))
    assert [rules.dunning_step_day(anchor, step, POLICY) for step in steps] == [
        date(2027, 1, 16),
        date(2027, 1, 22),
        date(2027, 1, 29),
    ]


def test_a_later_partial_payment_re_anchors_the_count():
    due = date(2027, 2, 15)
    assert rules.dunning_anchor(due, None) == due
    assert rules.dunning_anchor(due, date(2027, 2, 10)) == due  # paid before the due day: nothing moves
    anchor = rules.dunning_anchor(due, date(2027, 2, 25))
    assert anchor == date(2027, 2, 25)
    assert rules.dunning_steps(anchor, POLICY, date(2027, 3, 1)) == ["reminder:1"]


def test_card_details_are_checked_before_the_gateway_sees_them():
    assert luhn_ok("4242424242424242")
    assert not luhn_ok("4242424242424241")
    assert card_errors("4242424242424242", "12", "31", "123", 2027, 1) == {}
    errors = card_errors("1234", "13", "2020", "12", 2027, 1)
    assert set(errors) == {"number", "exp", "cvc"}
    assert "exp" in card_errors("4242424242424242", "12", "2026", "123", 2027, 1)  # expired
