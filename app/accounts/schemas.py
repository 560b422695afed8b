"""The accounts API's bodies (API.md Accounts), decoded at the edge (app/web/schemas.py).

The edge refuses what no account could hold (wrong types, control characters, absurd lengths, unknown fields);
the service still applies the account rules (countries, postal codes, domains) with their own messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from app.web.schemas import PRINTABLE, Answer, Body, Country, Currency, Email, Text, Uuid

Phone = Annotated[str, Meta(max_length=40, pattern=PRINTABLE)]
PostalCode = Annotated[str, Meta(max_length=20, pattern=PRINTABLE)]
# a new tenant's domain prefix (or the full *.onmicrosoft.com name): the service checks its form
Domain = Annotated[str, Meta(max_length=64, pattern=PRINTABLE)]
MpnId = Annotated[str, Meta(max_length=20, pattern=PRINTABLE)]
# a time with its zone (RFC 3339); the service checks it is plausible (not before 2000, not in the future)
ZonedTime = Annotated[datetime, Meta(tz=True)]


class AddressBody(Body):
    line1: Text
    city: Text
    postal_code: PostalCode
    line2: Text | UnsetType | None = UNSET
    state: Text | UnsetType | None = UNSET


class AddressChangeBody(Body):
    """`PATCH` changes the parts of the address it names."""

    line1: Text | UnsetType = UNSET
    line2: Text | UnsetType | None = UNSET
    city: Text | UnsetType = UNSET
    state: Text | UnsetType | None = UNSET
    postal_code: PostalCode | UnsetType = UNSET


class ResellerBody(Body):
    """`POST /resellers` (csp_admin)."""

    name: Text
    email: Email
    country: Country
    currency: Currency
    mpn_id: MpnId
    phone: Phone | UnsetType = UNSET
    address: AddressBody | UnsetType = UNSET


class CustomerBody(Body):
    """`POST /customers`: a new Microsoft tenant (`domain`) or an existing one (`tenant_id`)."""

    name: Text
    email: Email
    country: Country
    currency: Currency
    address: AddressBody
    phone: Phone | UnsetType = UNSET
    reseller_id: Uuid | UnsetType | None = UNSET
    domain: Domain | UnsetType | None = UNSET
    tenant_id: Uuid | UnsetType | None = UNSET
    qualification: Literal["commercial", "education", "government", "nonprofit"] | UnsetType = UNSET


class ContactsBody(Body):
    email: Email | UnsetType = UNSET
    phone: Phone | UnsetType = UNSET


class AccountChangeBody(Body):
    """`PATCH /accounts/{id}`: the fields it names change, the others keep their value."""

    name: Text | UnsetType = UNSET
    email: Email | UnsetType = UNSET
    phone: Phone | UnsetType = UNSET
    address: AddressChangeBody | UnsetType = UNSET
    contacts: ContactsBody | UnsetType = UNSET


class UserBody(Body):
    """`POST /accounts/{id}/users`: an invitation (the role is the account's; naming another is refused)."""

    email: Email
    name: Text
    role: Literal["csp_admin", "reseller_admin", "customer_admin"] | UnsetType = UNSET


class McaBody(Body):
    """`POST /customers/{id}/mca-acceptance`: who accepted the Microsoft Customer Agreement, and when (left out:
    now)."""

    first_name: Text
    last_name: Text
    email: Email
    phone: Phone | UnsetType | None = UNSET
    accepted_at: ZonedTime | UnsetType | None = UNSET


# --- Answers (API.md Accounts), in app/accounts/serializers.py's order -----------------------------------------


class AddressAnswer(Answer):
    line1: str
    line2: str | None
    city: str
    state: str | None
    postal_code: str


class AccountAnswer(Answer):
    """A reseller or customer; `reseller_id`, `tenant_id`, `domain` and `qualification` are customers' (null
    otherwise), `mpn_id` resellers'."""

    id: str
    kind: Literal["reseller", "customer"]
    reseller_id: str | None
    name: str
    email: str
    phone: str | None
    country: str
    currency: str
    address: AddressAnswer
    tenant_id: str | None
    domain: str | None
    mpn_id: str | None
    qualification: str | None
    status: Literal["active", "suspended", "closed"]
    created_at: str | None
    updated_at: str | None


class AccountList(Answer):
    items: list[AccountAnswer]
    next: str | None


class UserAnswer(Answer):
    id: str
    email: str
    name: str
    role: Literal["csp_admin", "reseller_admin", "customer_admin"]
    account_id: str | None
    is_active: bool
    created_at: str | None
    last_login_at: str | None


class UserList(Answer):
    items: list[UserAnswer]
    next: str | None


class McaAnswer(Answer):
    id: str
    customer_id: str
    first_name: str
    last_name: str
    email: str
    phone: str | None
    accepted_at: str | None
    method: str
    recorded_by: str | None


class MeAnswer(Answer):
    id: str
    email: str
    name: str
    role: Literal["csp_admin", "reseller_admin", "customer_admin"]
    account_id: str | None
