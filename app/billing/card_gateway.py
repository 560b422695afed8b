"""What every card gateway is: the interface `gateways.gateway_for` hands out, and the answers it gives. Its own
module, below both gateways (the sandbox's in gateways.py, Stripe's in stripe_gateway.py), so the one that chooses
a gateway can import the ones it chooses from."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


class GatewayTimeout(Exception):
    """The gateway did not answer in time: the charge may or may not exist; ask `lookup`, never charge again."""


@dataclass(frozen=True)
class SavedCard:
    gateway_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | declined | unknown (no charge under this key)
    gateway_ref: str | None = None
    decline_code: str | None = None
    message: str = ""


class Gateway(Protocol):
    name: str

    async def save_card(self, details: dict) -> SavedCard: ...

    async def charge(self, *, key: str, card_ref: str, amount: Decimal, currency: str) -> ChargeResult: ...

    async def lookup(self, key: str) -> ChargeResult: ...
