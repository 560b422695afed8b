"""Who may see and do what, and what a valid account looks like. Pure: plain values in, decisions out."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from app.accounts.address_rules import country_error, currency_error, normalize_postal_code, postal_code_error

Role = Literal["csp_admin", "reseller_admin", "customer_admin"]
ROLES: tuple[Role, ...] = ("csp_admin", "reseller_admin", "customer_admin")
ROLE_LABELS = {
    "csp_admin": "CSP admin",
    "reseller_admin": "Reseller admin",
    "customer_admin": "Customer admin",
}
AccountKind = Literal["reseller", "customer"]
QUALIFICATIONS = ("commercial", "education", "government", "nonprofit")
ACCOUNT_FIELDS = (
    "name",
    "email",
    "phone",
    "country",
    "currency",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "tenant_domain",
    "tenant_id",
    "mpn_id",
    "qualification",
)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")
DOMAIN_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,25}$")
MPN_ID_RE = re.compile(r"^\d{6,10}$")


@dataclass(frozen=True)
class Principal:
    """The signed-in user (by page session or API token)."""

    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    account_id: uuid.UUID | None
    hold_reason: str = ""  # why the account (or its reseller) is on hold for non-payment; shown on every page


@dataclass(frozen=True)
class AccountRef:
    id: uuid.UUID
    kind: AccountKind
    parent_id: uuid.UUID | None


# --- The one scope rule (API.md Conventions): outside the caller's scope is a 404 -----------------
# Every check and every query of what a viewer sees comes from `scope_of`: `can_see` in Python, `scope_sql` in
# raw SQL (and the accounts service's Piccolo clause from the same `Scope`). Nothing else decides visibility from
# a role.


@dataclass(frozen=True)
class Scope:
    """The accounts a viewer sees: all of them, or one account and, for a reseller, the customers under it.
    `account_id` None without `everything` sees nothing (a user without an account who is not the CSP's)."""

    everything: bool = False
    account_id: uuid.UUID | None = None
    with_customers: bool = False

    def covers(self, account: AccountRef) -> bool:
        if self.everything:
            return True
        if self.account_id is None:
            return False
        # not `in (id, parent_id)`: a direct customer's parent_id is None and must never match
        return account.id == self.account_id or (self.with_customers and account.parent_id == self.account_id)


def scope_of(viewer: Principal) -> Scope:
    if viewer.role == "csp_admin":
        return Scope(everything=True)
    return Scope(account_id=viewer.account_id, with_customers=viewer.role == "reseller_admin")


def can_see(viewer: Principal, account: AccountRef) -> bool:
    return scope_of(viewer).covers(account)


def sees_everything(viewer: Principal) -> bool:
    """Whether the viewer sees what belongs to no account (the CSP's own work, every owner's rules)."""
    return scope_of(viewer).everything


def scope_sql(viewer: Principal, id_column: str, parent_column: str, args: list) -> str:
    """`can_see` as a WHERE fragment over the account a row belongs to (`id_column`, `parent_column`: that
    account's id and parent_id), appending its parameter to the positional `args` ($n numbering)."""
    scope = scope_of(viewer)
    if scope.everything:
        return "TRUE"
    if scope.account_id is None:
        return "FALSE"
    args.append(scope.account_id)
    n = len(args)
    if scope.with_customers:
        return f"({id_column} = ${n} OR {parent_column} = ${n})"
    return f"{id_column} = ${n}"


# --- What each role may do inside its scope (a 403 when the role lacks it) ------------------------


def may_create_reseller(viewer: Principal) -> bool:
    return viewer.role == "csp_admin"


def may_create_customer(viewer: Principal, reseller_id: uuid.UUID | None) -> bool:
    if viewer.role == "csp_admin":
        return True
    return viewer.role == "reseller_admin" and reseller_id == viewer.account_id


def may_edit_account(viewer: Principal, account: AccountRef) -> bool:
    return can_see(viewer, account)


def may_manage_users(viewer: Principal, account: AccountRef) -> bool:
    return can_see(viewer, account)


def role_for_account(kind: AccountKind) -> Role:
    """Users of an account take the account's role: resellers' users administer the reseller."""
    return "reseller_admin" if kind == "reseller" else "customer_admin"


def mca_method(viewer: Principal) -> str:
    """A customer accepts the MCA itself; its reseller or the CSP attests that it did."""
    return {"customer_admin": "customer", "reseller_admin": "reseller_attested"}.get(viewer.role, "csp_attested")


# --- Input validation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountInput:
    name: str
    email: str
    country: str
    currency: str
    phone: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    tenant_domain: str | None = None
    tenant_id: uuid.UUID | None = None
    mpn_id: str | None = None
    qualification: str = "commercial"


def email_error(email: str) -> str | None:
    if not email:
        return "Enter an email address."
    if len(email) > 254 or not EMAIL_RE.match(email):
        return "Enter an email address like name@example.com."
    return None


def clean_account(raw: dict[str, object], kind: AccountKind, partial: bool = False) -> tuple[dict, dict]:
    """Clean the submitted fields of an account. Returns (cleaned fields, field errors).

    With `partial` only the fields present are checked (PATCH); otherwise every required one is.
    """

    def text(key: str) -> str:
        value = raw.get(key)
        return "" if value is None else str(value).strip()

    present = set(raw) if partial else set(ACCOUNT_FIELDS)
    out: dict[str, object] = {}
    errors: dict[str, str] = {}

    if "name" in present:
        out["name"] = name = text("name")
        if not name:
            errors["name"] = "Enter the company name."
        elif len(name) > 200:
            errors["name"] = "Keep the name under 200 characters."
    if "email" in present:
        out["email"] = email = text("email").lower()
        if message := email_error(email):
            errors["email"] = message
    if "phone" in present:
        out["phone"] = text("phone")
    if "country" in present:
        out["country"] = country = text("country").upper()
        if message := country_error(country):
            errors["country"] = message
    if "currency" in present:
        out["currency"] = currency = text("currency").upper()
        if message := currency_error(currency):
            errors["currency"] = message
    for key in ("address_line1", "address_line2", "city", "state"):
        if key in present:
            out[key] = text(key)
    if kind == "customer":
        # Microsoft needs a billing address to create the customer's tenant
        if "address_line1" in present and not out["address_line1"]:
            errors["address_line1"] = "Enter the street address."
        if "city" in present and not out["city"]:
            errors["city"] = "Enter the city."
    if "postal_code" in present:
        code = text("postal_code")
        country = str(out.get("country") or raw.get("_current_country") or "")
        if country and "country" not in errors:
            if message := postal_code_error(country, code):
                errors["postal_code"] = message
            else:
                code = normalize_postal_code(country, code) if code else ""
        out["postal_code"] = code
    if kind == "reseller" and "mpn_id" in present:
        mpn = text("mpn_id")
        out["mpn_id"] = mpn or None
        if not mpn:
            errors["mpn_id"] = "Enter the reseller's MPN ID (Partner Location Account ID)."
        elif mpn and not MPN_ID_RE.match(mpn):
            errors["mpn_id"] = "An MPN ID is 6 to 10 digits."
    if kind == "customer":
        if "qualification" in present:
            out["qualification"] = qual = text("qualification") or "commercial"
            if qual not in QUALIFICATIONS:
                errors["qualification"] = "Choose commercial, education, government or nonprofit."
        domain = text("tenant_domain").lower() if "tenant_domain" in present else ""
        tenant = text("tenant_id") if "tenant_id" in present else ""
        if domain and tenant:
            errors["tenant_domain"] = "Give a new domain or an existing tenant ID, not both."
        if domain:
            prefix = domain.removesuffix(".onmicrosoft.com")
            if not DOMAIN_PREFIX_RE.match(prefix):
                errors["tenant_domain"] = (
                    "A domain prefix has 1 to 26 lower-case letters, digits or hyphens, like contoso."
                )
            out["tenant_domain"] = f"{prefix}.onmicrosoft.com"
        if tenant:
            try:
                out["tenant_id"] = uuid.UUID(tenant)
            except ValueError:
                errors["tenant_id"] = "A tenant ID is a GUID like 4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04."
    return out, errors
