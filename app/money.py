"""Money: Decimal amounts with an explicit currency, rounded half-up to the currency's minor unit.

Microsoft rounds per seat and then multiplies (NCE_RULES.md section 2), so rounding is explicit and
happens where the rule says, never implicitly on arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
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

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"Cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def rounded(self) -> Money:
        return Money(round_amount(self.amount, self.currency), self.currency)

    def as_string(self) -> str:
        """The API's representation: the currency's decimals, no symbol ("12.50", JPY "1200")."""
        return str(round_amount(self.amount, self.currency))

    def display(self, locale: str = "en") -> str:
        return format_currency(self.rounded().amount, self.currency, locale=locale)
