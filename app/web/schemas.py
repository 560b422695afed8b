"""The API's typed edge (API.md Conventions): the constrained values every domain's bodies are made of, the base
of those bodies, and the error body every refusal answers with.

A body is decoded into its struct before a service sees it: unknown fields, wrong types, control characters,
numbers outside what the columns hold and strings of absurd length are refused at the edge with 400/422 in our
error format (app/web/errors.py). Services still apply the business rules (NCE_RULES) to what passed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request
from litestar.openapi import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from msgspec import UNSET, Meta, UnsetType

from app.errors import AppError, Invalid, Malformed
from app.web.paging import MAX_LIMIT

# printable text: no NUL, no control characters (tab and line breaks only where a field says so)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
MULTILINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Text = Annotated[str, Meta(max_length=200, pattern=PRINTABLE)]
LongText = Annotated[str, Meta(max_length=2000, pattern=MULTILINE)]
Email = Annotated[str, Meta(max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")]
Country = Annotated[str, Meta(pattern=r"^[A-Za-z]{2}$")]
CURRENCY = r"^[A-Za-z]{3}$"
Currency = Annotated[str, Meta(pattern=CURRENCY)]
OFFER_ID = r"^\s*[A-Za-z0-9]{1,20}:[A-Za-z0-9]{1,10}\s*$"  # ProductId:SkuId
OfferId = Annotated[str, Meta(max_length=64, pattern=OFFER_ID)]
Uuid = Annotated[str, Meta(max_length=36, pattern=r"^[0-9a-fA-F-]{32,36}$")]
IsoDate = Annotated[str, Meta(max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$")]
# seats: PostgreSQL's integer (a quantity past it is nobody's order, and must not reach a query)
Quantity = Annotated[int, Meta(ge=0, le=2_147_483_647)]
# money and rates as the API writes them: decimal strings ("12.50"), finite, within numeric(18, 4)
Amount = Annotated[str, Meta(max_length=20, pattern=r"^\s*-?\d{1,14}(\.\d{1,4})?\s*$")]
Rate = Annotated[str, Meta(max_length=24, pattern=r"^\s*\d{1,10}(\.\d{1,8})?\s*$")]

# Query and path parameters (API.md Conventions). Litestar reads a parameter's constraints from its own
# Parameter and drops msgspec's Meta there, so these carry them as QueryParameter/PathParameter: a bad value is
# a 422 naming the parameter (app/web/errors.py), and OpenAPI shows the bounds. Use them bare (`q: SearchText = ""`).
_WORD = r"^[A-Za-z0-9_-]*$"
SearchText = Annotated[str, QueryParameter(max_length=200, pattern=PRINTABLE)]
Word = Annotated[str, QueryParameter(max_length=40, pattern=_WORD)]  # a status, kind, term or plan
OptionalWord = Annotated[str | None, QueryParameter(max_length=40, pattern=_WORD)]
Limit = Annotated[int | None, QueryParameter(ge=1, le=MAX_LIMIT)]
# base64url, as app.web.paging.next_cursor makes them
Cursor = Annotated[str | None, QueryParameter(max_length=40, pattern=r"^[A-Za-z0-9_=-]*$")]
CurrencyQuery = Annotated[str | None, QueryParameter(pattern=CURRENCY)]
OfferIdPath = Annotated[str, PathParameter(max_length=64, pattern=OFFER_ID)]


class Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A request body: unknown fields are refused; fields left out stay left out (UNSET) for the service."""


class Answer(msgspec.Struct, forbid_unknown_fields=True):
    """An API answer (API.md): its fields in the order the serializer writes them, None written as null, so the
    JSON is the same bytes as the serializer's dict. `answer()` builds it from that dict and refuses a key the
    struct does not name: the OpenAPI document and what is sent cannot drift apart."""


AnswerT = TypeVar("AnswerT", bound=Answer)


def answer(kind: type[AnswerT], value: Mapping[str, Any]) -> AnswerT:
    return msgspec.convert(value, kind)


def fields(body: Body | None) -> dict[str, Any]:
    """The decoded body as the service's plain values, without the fields the caller left out."""
    return {} if body is None else msgspec.to_builtins(body)


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    field: str | UnsetType = UNSET


class ErrorBody(msgspec.Struct):
    """Every refusal: 400 malformed, 401, 403, 404, 409 (a business rule; `message` is NCE_RULES.md's text), 422 (a
    field is invalid; `field` names it)."""

    error: ErrorDetail


ERROR_ANSWERS = {
    400: "Malformed: not JSON, not the object this endpoint takes, or not sent as application/json.",
    401: "No token, or a token that is not valid (any more).",
    403: "The caller's role lacks this action.",
    404: "Not found, or outside the caller's scope.",
    409: "A business rule refused it; `message` is NCE_RULES.md's text.",
    422: "A field is invalid; `field` names it.",
}


def error_responses() -> dict[int, ResponseSpec]:
    """The error answers every API operation may give, documented with ErrorBody (API.md Conventions)."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)
        for status, description in ERROR_ANSWERS.items()
    }


__all__ = [
    "MULTILINE",
    "PRINTABLE",
    "UNSET",
    "Amount",
    "Answer",
    "Body",
    "Country",
    "Currency",
    "CurrencyQuery",
    "Cursor",
    "Email",
    "ErrorBody",
    "IsoDate",
    "Limit",
    "LongText",
    "OfferId",
    "OfferIdPath",
    "OptionalWord",
    "Quantity",
    "Rate",
    "SearchText",
    "Text",
    "UnsetType",
    "Uuid",
    "Word",
    "answer",
    "error_responses",
    "fields",
    "typed_body",
]


async def typed_body(request: Request) -> None:
    """The API's edge for bodies (before the handler runs): the body is `application/json`, and it decodes
    *strictly* into the handler's struct (Litestar's own conversion would take "2" for 2 and 1 for true)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    raw = await request.body()
    if not raw.strip():
        return
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise Malformed("Send the body as JSON, with Content-Type: application/json.")
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        raise Malformed("This request takes no body.")
    try:
        msgspec.json.decode(raw, type=field.annotation, strict=True)
    except msgspec.ValidationError as refused:
        raise refusal(str(refused)) from None
    except msgspec.DecodeError:
        raise Malformed("The request body is not valid JSON.") from None


def refusal(message: str) -> AppError:
    """msgspec's words ("Expected `int` >= 1 - at `$.lines[0].quantity`") as our error: 422 naming the field, or
    400 when the body is not the object the endpoint takes at all."""
    text, _, where = message.partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    if (unknown := re.search(r"unknown field `([^`]+)`", text)) is not None:
        name = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return Invalid({name: f"{name} is not a field of this request."})
    if (missing := re.search(r"missing required field `([^`]+)`", text)) is not None:
        name = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return Invalid({name: f"{name} is required."})
    if not path:
        return Malformed(f"Send a JSON object: {text[:1].lower()}{text[1:]}.")
    return Invalid({path: f"{path}: {text[:1].lower()}{text[1:]}."})
