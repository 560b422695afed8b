from decimal import Decimal

import pytest

from app.money import CurrencyMismatch, Money, minor_units, round_amount, round_unit_price

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("currency", "places"), [("EUR", 2), ("USD", 2), ("GBP", 2), ("JPY", 0), ("BHD", 3)])
def test_minor_units_follow_iso_4217(currency, places):
    assert minor_units(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.675", "EUR", "2.68"),  # half-up, not banker's rounding
        ("2.665", "EUR", "2.67"),
        ("-3.865", "USD", "-3.87"),  # away from zero on negatives too (reversal lines)
        ("1234.5", "JPY", "1235"),
        ("1233.5", "JPY", "1234"),
        ("0.0005", "BHD", "0.001"),
    ],
)
def test_round_amount_half_up_to_minor_unit(amount, currency, expected):
    assert round_amount(Decimal(amount), currency) == Decimal(expected)
    assert str(round_amount(Decimal(amount), currency)) == expected


def test_microsoft_worked_example_rounds_per_seat_then_multiplies():
    # NCE_RULES.md section 5: $4/month, 30-day period, 29 days left -> 3.87 per seat, x2 = 7.74
    per_seat = round_amount(Decimal(4) * 29 / 30, "USD")
    assert per_seat == Decimal("3.87")
    assert Money(per_seat, "USD").times(2).amount == Decimal("7.74")


def test_unit_prices_keep_four_decimals():
    assert round_unit_price("12.345678") == Decimal("12.3457")


def test_money_refuses_float_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(1.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(CurrencyMismatch, match="Cannot combine"):
        Money.of("1", "EUR") + Money.of("1", "USD")
    with pytest.raises(CurrencyMismatch):
        assert Money.of("1", "EUR") <= Money.of("1", "USD")
    with pytest.raises(TypeError):
        Money.of("1", "EUR") + Decimal(1)  # type: ignore[operator]
    with pytest.raises(ValueError, match="Unknown currency"):
        Money.of("1", "EURO")


def test_money_string_and_display():
    assert Money.of("12.5", "eur").as_string() == "12.50"
    assert Money.of("1200", "JPY").as_string() == "1200"
    assert Money.of("1200.4", "JPY").display() == "¥1,200"
    assert (Money.of("10.00", "EUR") - Money.of("2.50", "EUR")).as_string() == "7.50"
