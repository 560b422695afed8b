"""The API's answers (API.md Conventions): the base every domain's answer structs share, and the values they are
made of. Handlers return these structs so `/schema/openapi.json` documents each answer as a component.

An answer is converted from the service's plain values in one place per domain (`app/<domain>/schemas.py`), with
msgspec checking every key and type on the way: a key the service sends but the struct does not list is refused, so
the document cannot silently drift from what is sent. The JSON is the one the services always wrote: money stays a
decimal string next to its currency, times stay the strings they were."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from app.web.schemas import Answer

# money as API.md writes it: the currency's decimals, never a float ("12.50", "-3.10")
DecimalText = Annotated[
    str, Meta(pattern=r"^-?\d+(\.\d+)?$", description='A decimal amount as a string, e.g. "12.50".')
]
CurrencyCode = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")]
DateTimeText = Annotated[
    str,
    Meta(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
        description="An ISO 8601 time in UTC.",
    ),
]
OfferIdText = Annotated[str, Meta(description="The offer's ProductId:SkuId.")]


class Fx(Answer):
    """How an amount converted from another currency was converted (NCE_RULES 2); `fx: null` when it was not."""

    rate: DecimalText
    from_: CurrencyCode = msgspec.field(name="from")
    to: CurrencyCode
    source_amount: DecimalText


__all__ = ["CurrencyCode", "DateTimeText", "DecimalText", "Fx", "OfferIdText"]
