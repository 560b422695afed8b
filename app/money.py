"""Money: Decimal amounts with an explicit currency, rounded half-up to the currency's minor unit.

Microsoft rounds per seat and then multiplies (NCE_RULES.md section 2), so rounding is explicit and
happens where the rule says, never implicitly on arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import format_currency, get_currency_precision, is_currency

UNIT_PRICE_PLACES = 4  # unit prices are stored with 4 decimals (NCE_RULES.md section 2)


@cache
def minor_units(currency: str) -> int:
    """Decimals of the currency's minor unit (ISO 4217 via CLDR): EUR 2, JPY 0, BHD 3."""
    if not is_currency(currency):
        raise ValueError(f"Unknown currency {currency!r}")
    return get_currency_precision(currency)


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def round_amount(amount: Decimal | int | str, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    return Decimal(amount).quantize(quantum(minor_units(currency)), rounding=rounding)


def round_unit_price(amount: Decimal | int | str) -> Decimal:
    return Decimal(amount).quantize(quantum(UNIT_PRICE_PLACES), rounding=ROUND_HALF_UP)


def decimal_within(value: object, integer_digits: int = 14, places: int = 4) -> Decimal | None:
    """`value` as a finite Decimal that a numeric(integer_digits + places, places) column holds exactly, or None.

    NaN, infinities, exponents past the column ("1e30") and more decimals than it keeps are not amounts: they would
    raise deep inside a comparison, a quantize or the INSERT instead of being refused with the field's message."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or abs(number) >= Decimal(10) ** integer_digits:
        return None
    if number != number.quantize(quantum(places)):
        return None
    return number


class CurrencyMismatch(TypeError):
    """Two amounts in different currencies were added or compared: convert one first (NCE_RULES 2)."""


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise TypeError("Money takes Decimal, int or str, never float")
        object.__setattr__(self, "amount", Decimal(self.amount))
        object.__setattr__(self, "currency", self.currency.upper())
        minor_units(self.currency)

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        return cls(round_amount(amount, currency.upper()), currency.upper())

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"Cannot combine {self.currency} money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"Cannot combine {self.currency} with {other.currency}")

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.as_string()} {self.currency}"

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def rounded(self) -> Money:
        return Money(round_amount(self.amount, self.currency), self.currency)

    def as_string(self) -> str:
        """The API's representation: the currency's decimals, no symbol ("12.50", JPY "1200")."""
        return str(round_amount(self.amount, self.currency))

    def display(self, locale: str = "en") -> str:
        return format_currency(self.rounded().amount, self.currency, locale=locale)


# --- Exchange rates (NCE_RULES 2) ------------------------------------------------------------------------------


def no_rate_message(source: str, target: str) -> str:
    return f"No exchange rate from {source} to {target} is in force. Add one under Catalog → FX rates."


class NoRate(Exception):
    """No rate from one currency to another is in force on the day; the message is the one NCE_RULES 2 shows."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(no_rate_message(source, target))
        self.source, self.target = source, target


@dataclass(frozen=True)
class FxRate:
    from_currency: str
    to_currency: str
    effective_from: date
    rate: Decimal


def rate_in_force(rates: Iterable[FxRate], source: str, target: str, on: date) -> Decimal | None:
    """The CSP's rate from `source` to `target` in force on `on`: the latest effective date not after it."""
    if source == target:
        return Decimal(1)
    usable = [r for r in rates if (r.from_currency, r.to_currency) == (source, target) and r.effective_from <= on]
    return max(usable, key=lambda r: r.effective_from).rate if usable else None


@dataclass(frozen=True)
class Conversion:
    """Amounts billed in `target` that Microsoft priced in `source` (NCE_RULES 2, cross-currency bill-to): each
    per-seat amount is converted, then rounded to the target's minor unit, then multiplied by the seats."""

    rate: Decimal
    source: str
    target: str

    def per_seat(self, amount: Decimal) -> Decimal:
        return round_amount(amount * self.rate, self.target)

    def fx(self, source_amount: Decimal) -> dict:
        """The API's `fx` of an amount converted from `source_amount`."""
        return {
            "rate": format(self.rate.normalize(), "f"),
            "from": self.source,
            "to": self.target,
            "source_amount": str(round_amount(source_amount, self.source)),
        }


def conversion(rates: Iterable[FxRate], source: str, target: str, on: date) -> Conversion | None:
    """None when nothing is converted (the same currency); NoRate when a rate is needed and none is in force."""
    if source == target:
        return None
    rate = rate_in_force(rates, source, target, on)
    if rate is None:
        raise NoRate(source, target)
    return Conversion(rate, source, target)


def fx_json(rate: Decimal | None, source: str | None, target: str, source_amount: Decimal | None) -> dict | None:
    """A stored row's `fx` (API.md conventions): null when the amount was not converted."""
    if rate is None or source is None or source_amount is None:
        return None
    return Conversion(Decimal(rate), source.strip(), target.strip()).fx(Decimal(source_amount))
