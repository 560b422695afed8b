"""The pages' typed edge (issue 17): every page form is decoded into a `Form` struct before a service sees it, the
way every API body is decoded into its `Body` (app/web/schemas.py), from the same constrained values.

A form's fields are the strings a browser sends, so the structs keep them as strings (the services parse them and
word their own refusals, NCE_RULES); what the edge refuses is what no person means and what would break a query
or a column: control characters (PostgreSQL refuses NUL), absurd lengths, numbers past what the column holds,
`NaN`/`Infinity`/exponents in amounts, ids that are not UUIDs. A refusal is an `Invalid` naming the field, so the
handler's own refusal path re-renders the form with the message beside that field (or, where a form has no such
path, the page's alert shows it: app/web/errors.py). Unknown fields are dropped: a form carries its buttons and
the CSRF token, and only the declared fields reach the service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, get_args, get_type_hints

import msgspec
from litestar import Request
from litestar.params import Parameter
from msgspec import UNSET, Meta, UnsetType

from app.errors import AppError, Invalid
from app.web.render import form_values
from app.web.schemas import LongText, Text

_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
_NO_CONTROL = "Remove the control characters (such as NUL) from it."
_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

# one line of text (a name, a city, an email the service checks): printable, at most 200 characters
Line = Annotated[Text, Meta(description=_NO_CONTROL)]
# text that may run over lines (an address, payment instructions)
Paragraph = Annotated[LongText, Meta(description=_NO_CONTROL)]
# a choice from a list, or a flag ("on", "true", "annual", "P1Y/annual"): short and printable
Choice = Annotated[str, Meta(max_length=40, pattern=r"^[^\x00-\x1f\x7f]*$", description=_NO_CONTROL)]
# a number of seats or days: digits only, and few enough for PostgreSQL's integer
# (a blank stays blank, for the service to say what it needs)
WholeNumber = Annotated[
    str, Meta(max_length=20, pattern=r"^\s*\d{0,9}\s*$", description="Give a whole number of at most 9 digits.")
]
# money as people type it, within numeric(18, 4): no NaN, no Infinity, no exponent
Amount = Annotated[
    str, Meta(max_length=30, pattern=r"^\s*(-?\d{1,14}(\.\d{1,4})?)?\s*$", description="Give an amount like 12.50.")
]
# a percentage within numeric(9, 4)
Percent = Annotated[
    str, Meta(max_length=20, pattern=r"^\s*(-?\d{1,5}(\.\d{1,4})?)?\s*$", description="Give a percentage like 12.5.")
]
# an exchange rate within numeric(18, 8)
Rate = Annotated[
    str, Meta(max_length=30, pattern=r"^\s*(\d{1,10}(\.\d{1,8})?)?\s*$", description="Give a rate like 1.0850.")
]
# a card number as typed (spaces allowed)
CardNumber = Annotated[str, Meta(max_length=30, pattern=r"^[\d ]*$", description="Give the card's number.")]
IsoDate = Annotated[str, Meta(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$", description="Give a date.")]
Uuid = Annotated[str, Meta(max_length=40, pattern=rf"^\s*({_UUID})?\s*$", description="Pick one from the list.")]
# "new" (a card typed in) or a saved card's id
CardChoice = Annotated[str, Meta(max_length=40, pattern=rf"^\s*(new|{_UUID})?\s*$", description="Pick a card.")]
OfferId = Annotated[
    str,
    Meta(max_length=64, pattern=r"^\s*([A-Za-z0-9]{1,20}:[A-Za-z0-9]{1,10})?\s*$", description="Pick an offer."),
]


__all__ = ["UNSET", "UnsetType"]
# What a page's search box or filter sends in the query: one printable line (a NUL would reach a query). Litestar
# checks a query or path parameter against its `Parameter`'s constraints (a `Meta` inside `FromQuery` is not seen).
SearchText = Annotated[str, Parameter(max_length=200, pattern=_PRINTABLE)]
# a row's number in a URL (a bigserial): one past PostgreSQL's bigint names no row, and must not reach a query
RowId = Annotated[int, Parameter(ge=1, le=2**63 - 1)]


class FormRefused(Invalid):
    """A value the edge refused: what no person means to type. Forms that show messages by field show it beside
    its field; forms that show only some fields' messages show it in their alert (`errors_of`)."""


class Form(msgspec.Struct, kw_only=True):
    """A page form: its fields as strings, each a constrained value. A field is declared `X | UnsetType = UNSET`:
    one the form left out stays left out for the service (an edit changes only what it sent)."""


F = TypeVar("F", bound=Form)


def parse_form(values: Mapping[str, Any], form: type[F]) -> F:
    """The form's values as `form`, or an `Invalid` naming the first field no person would type."""
    try:
        return msgspec.convert(dict(values), type=form, strict=True)
    except msgspec.ValidationError as refused:
        raise _refusal(form, str(refused)) from None


async def read_form(request: Request, form: type[F]) -> F:
    """The posted form, decoded (see `parse_form`)."""
    return parse_form(await form_values(request), form)


def form_fields(form: Form) -> dict[str, Any]:
    """The decoded form as the service's plain values."""
    return msgspec.to_builtins(form)


def errors_of(refused: AppError) -> dict[str, str]:
    """A refusal as a form's messages: by field for the service's `Invalid`, in the form's alert ("form") for a
    rule's refusal and for what the edge refused."""
    if isinstance(refused, Invalid) and not isinstance(refused, FormRefused):
        return refused.errors
    if isinstance(refused, FormRefused):
        return {"form": refused.message}
    return {refused.field or "form": refused.message}


def _refusal(form: type[Form], message: str) -> Invalid:
    text, _, where = message.partition(" - at `$.")
    name = re.split(r"[.\[`]", where, maxsplit=1)[0] or "form"
    return FormRefused({name: refusal_text(name, text, _description(form, name))})


def refusal_text(name: str, text: str, wanted: str = "") -> str:
    """msgspec's words for a refused value ("Expected `str` of length <= 200") as a person's: the field, then what
    to type (`wanted`: the field's description, where it has one)."""
    label = name.replace("_", " ").capitalize()
    if (longest := re.search(r"length <= (\d+)", text)) is not None:
        return f"{label}: keep it to {longest.group(1)} characters."
    if "matching regex" in text:
        wanted = wanted or _NO_CONTROL
        return f"{label}: {wanted[:1].lower()}{wanted[1:]}"
    if re.search(r"Expected `int` [<>]=", text):
        return f"{label}: no such number here."
    if text.startswith("Expected `str`"):  # a file, or a field sent twice where one value is meant
        return f"{label}: send one value, typed in."
    return f"{label}: {text[:1].lower()}{text[1:]}."


def _description(form: type[Form], name: str) -> str:
    hint = get_type_hints(form, include_extras=True).get(name)
    for part in reversed(_metadata(hint)):
        if isinstance(part, Meta) and part.description:
            return part.description
    return ""


def _metadata(hint: Any) -> list[Any]:
    """The Meta of a field's type, and of a list's items."""
    found = list(getattr(hint, "__metadata__", ()))
    for arg in get_args(hint):
        found += _metadata(arg)
    return found
