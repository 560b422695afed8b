"""What the CSP sets for billing: itself as the seller, tax rates per country, defaults for payment terms and the
non-payment rules, and per bill-to account its credit limit, billing options and overrides (API.md Accounts and
Billing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app import clock, db
from app.accounts import service as accounts
from app.accounts.address_rules import country_error
from app.accounts.rules import Principal
from app.accounts.tables import Account
from app.audit import service as audit
from app.billing import rules, tables
from app.billing import service as billing
from app.billing.tables import BillingSettings
from app.errors import Forbidden, Invalid
from app.money import Money, decimal_within, round_amount

# the recurring plans an account may be limited to; one-time purchases (perpetual licences) are always allowed
PLAN_NAMES = ("monthly", "annual", "triennial")
ALWAYS_ALLOWED = frozenset({"one_time", "none"})
SELLER_FIELDS = ("seller_name", "seller_address", "seller_country", "seller_tax_id", "payment_instructions")


@dataclass(frozen=True)
class Terms:
    """An account's payment terms and non-payment policy, its own or the CSP's default."""

    payment_terms_days: int
    policy: rules.DunningPolicy
    overridden: bool


async def settings() -> dict:
    row = await BillingSettings.select().where(BillingSettings.id == 1).first().run()
    assert row is not None, "m0015 inserts the settings row"
    return row


def seller_of(row: dict) -> dict:
    """The seller as printed on a document: name, address, country, tax_id, payment_instructions."""
    return {field.removeprefix("seller_"): row[field] for field in SELLER_FIELDS}


def _csp_only(actor: Principal) -> None:
    if actor.role != "csp_admin":
        raise Forbidden("Only the CSP's admins change billing settings.")


async def update_seller(actor: Principal, data: dict) -> dict:
    _csp_only(actor)
    errors = {}
    country = str(data.get("seller_country", "")).strip().upper()
    if len(country) != 2 or not country.isalpha():
        errors["seller_country"] = "The country is a two-letter ISO code, like DE."
    if not str(data.get("seller_name", "")).strip():
        errors["seller_name"] = "The seller's legal name is printed on every invoice."
    if errors:
        raise Invalid(errors)
    values = {f: str(data.get(f, "")).strip() for f in SELLER_FIELDS}
    values["seller_country"] = country
    async with db.transaction():
        before = await settings()
        await (
            BillingSettings.update(
                {
                    BillingSettings.seller_name: values["seller_name"],
                    BillingSettings.seller_address: values["seller_address"],
                    BillingSettings.seller_country: values["seller_country"],
                    BillingSettings.seller_tax_id: values["seller_tax_id"],
                    BillingSettings.payment_instructions: values["payment_instructions"],
                    BillingSettings.updated_at: clock.now(),
                }
            )
            .where(BillingSettings.id == 1)
            .run()
        )
        await audit.record(actor, "billing_settings", "1", "seller_updated", *audit.changed(before, values))
    return await settings()


def _days_list(value: Any, field: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise Invalid({field: "reminder_days is a list of whole days overdue, like [1, 7]."})
    if any(v < 0 or v > 365 for v in value) or len(set(value)) != len(value):
        raise Invalid({field: "Each reminder day is between 0 and 365, and each appears once."})
    return sorted(value)


def _whole(value: Any, field: str, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid({field: f"{what} is a whole number of days between {low} and {high}."})
    return value


def dunning_json(reminder_days: list[int], suspend_after_days: int) -> dict:
    return {"reminder_days": list(reminder_days), "suspend_after_days": suspend_after_days}


def _policy(body: Any) -> tuple[list[int], int]:
    if not isinstance(body, dict) or set(body) - {"reminder_days", "suspend_after_days"}:
        raise Invalid({"body": "Send {reminder_days: [1, 7], suspend_after_days: 14}."})
    reminders = _days_list(body.get("reminder_days"), "reminder_days")
    suspend = _whole(body.get("suspend_after_days"), "suspend_after_days", 1, 365, "suspend_after_days")
    if any(days >= suspend for days in reminders):
        raise Invalid({"reminder_days": "Reminders come before the suspension: each is fewer days than it."})
    return reminders, suspend


async def default_dunning() -> dict:
    row = await settings()
    return dunning_json(row["reminder_days"], row["suspend_after_days"])


async def set_default_dunning(actor: Principal, body: Any) -> dict:
    _csp_only(actor)
    reminders, suspend = _policy(body)
    async with db.transaction():
        before = await default_dunning()
        await (
            BillingSettings.update(
                {
                    BillingSettings.reminder_days: reminders,
                    BillingSettings.suspend_after_days: suspend,
                    BillingSettings.updated_at: clock.now(),
                }
            )
            .where(BillingSettings.id == 1)
            .run()
        )
        after = dunning_json(reminders, suspend)
        await audit.record(actor, "billing_settings", "1", "dunning_policy_updated", before, after)
    return after


async def set_account_dunning(actor: Principal, account_id: uuid.UUID, body: Any) -> dict:
    """An account's own non-payment rules; `null` goes back to the CSP's default."""
    _csp_only(actor)
    reminders, suspend = (None, None) if body is None else _policy(body)
    async with db.transaction():
        account = await accounts.get_account(actor, account_id, for_update=True)
        await (
            Account.update(
                {Account.reminder_days: reminders, Account.suspend_after_days: suspend, Account.updated_at: clock.now()}
            )
            .where(Account.id == account_id)
            .run()
        )
        before = {"reminder_days": account["reminder_days"], "suspend_after_days": account["suspend_after_days"]}
        after = {"reminder_days": reminders, "suspend_after_days": suspend}
        await audit.record(actor, "account", account_id, "dunning_policy_updated", before, after)
    return await account_terms_json(account_id)


async def terms_of(account: dict, defaults: dict | None = None) -> Terms:
    defaults = defaults or await settings()
    overridden = account.get("suspend_after_days") is not None
    policy = rules.DunningPolicy(
        tuple(account["reminder_days"] if overridden else defaults["reminder_days"]),
        account["suspend_after_days"] if overridden else defaults["suspend_after_days"],
    )
    terms = account.get("payment_terms_days")
    return Terms(defaults["payment_terms_days"] if terms is None else terms, policy, overridden)


async def account_terms_json(account_id: uuid.UUID) -> dict:
    account = await Account.select().where(Account.id == account_id).first().run()
    assert account is not None
    terms = await terms_of(account)
    return {
        **dunning_json(list(terms.policy.reminder_days), terms.policy.suspend_after_days),
        "default": not terms.overridden,
    }


# --- Tax rates -------------------------------------------------------------------------------------------------


async def tax_rates() -> list[rules.TaxRate]:
    rows = await tables.TaxRate.select().order_by(tables.TaxRate.country).run()
    return [rules.TaxRate(r["country"], r["label"], r["rate"], r["reverse_charge"]) for r in rows]


def tax_rate_json(rate: rules.TaxRate) -> dict:
    return {"country": rate.country, "label": rate.label, "rate": format(rate.rate.normalize(), "f"),
            "reverse_charge": rate.reverse_charge}  # fmt: skip


async def set_tax_rate(actor: Principal, body: Any) -> rules.TaxRate:
    _csp_only(actor)
    if not isinstance(body, dict):
        raise Invalid({"body": "Send {country, label, rate, reverse_charge}."})
    country = str(body.get("country", "")).strip().upper()
    errors = {}
    if country_error(country):  # the countries addresses are written in: a rate for "ZZ" would apply to nobody
        errors["country"] = "The country is a two-letter ISO code, like FR."
    label = str(body.get("label", "")).strip()
    if not 1 <= len(label) <= 40:
        errors["label"] = "The label is printed on invoices, like VAT: 1 to 40 characters."
    rate = decimal_within(body.get("rate", ""), integer_digits=3)  # tax_rates.rate is numeric(7, 4)
    if rate is None or not Decimal(0) <= rate <= Decimal(100):
        errors["rate"] = "The rate is a percentage between 0 and 100, like 20 or 8.875."
        rate = Decimal(0)
    if errors:
        raise Invalid(errors)
    reverse = bool(body.get("reverse_charge"))
    async with db.transaction():
        row = tables.TaxRate(country=country, label=label, rate=rate, reverse_charge=reverse, updated_at=clock.now())
        kept = (tables.TaxRate.label, tables.TaxRate.rate, tables.TaxRate.reverse_charge, tables.TaxRate.updated_at)
        await (
            tables.TaxRate.insert(row).on_conflict(target=tables.TaxRate.country, action="DO UPDATE", values=kept).run()
        )
        await audit.record(actor, "tax_rate", country, "tax_rate_set", {}, {"label": label, "rate": rate,
                              "reverse_charge": reverse})  # fmt: skip
    return rules.TaxRate(country, label, rate, reverse)


async def delete_tax_rate(actor: Principal, country: str) -> None:
    _csp_only(actor)
    async with db.transaction():
        await tables.TaxRate.delete().where(tables.TaxRate.country == country.upper()).run()
        await audit.record(actor, "tax_rate", country.upper(), "tax_rate_removed", {}, {})


# --- Credit limit and billing options per bill-to account ------------------------------------------------------


async def credit_json(viewer: Principal, account_id: uuid.UUID) -> dict:
    account = await accounts.get_account(viewer, account_id)
    parts = await billing.exposure_parts(account_id)
    currency = account["currency"]
    total = sum(parts.values(), Money.zero(currency)).amount
    limit = account["credit_limit"]
    money = {name: value.as_string() for name, value in parts.items()}
    return {
        "credit_limit": None if limit is None else str(round_amount(limit, currency)),
        "exposure": str(round_amount(total, currency)),
        "available": None if limit is None else str(round_amount(max(limit - total, Decimal(0)), currency)),
        "currency": currency,
        "parts": money,
    }


def _amount(value: Any, field: str, currency: str) -> Decimal:
    amount = decimal_within(value)  # what accounts.credit_limit (numeric(18, 4)) holds
    if amount is None:
        raise Invalid({field: f'{field} is an amount like "5000.00", or null for no limit.'})
    if amount < 0 or round_amount(amount, currency) != amount:
        raise Invalid({field: f"{field} is zero or more, with at most the currency's decimals."})
    return amount


async def set_credit_limit(actor: Principal, account_id: uuid.UUID, body: Any) -> dict:
    _csp_only(actor)
    if not isinstance(body, dict) or set(body) != {"credit_limit"}:
        raise Invalid({"credit_limit": 'Send {credit_limit: "5000.00"} or {credit_limit: null} for no limit.'})
    async with db.transaction():
        account = await accounts.get_account(actor, account_id, for_update=True)
        raw = body["credit_limit"]
        limit = None if raw is None else _amount(raw, "credit_limit", account["currency"])
        await db.execute(
            "UPDATE accounts SET credit_limit = $2, updated_at = $3 WHERE id = $1", account_id, limit, clock.now()
        )
        await audit.record(
            actor, "account", account_id, "credit_limit_set", {"credit_limit": account["credit_limit"]},
            {"credit_limit": limit},
        )  # fmt: skip
    return await credit_json(actor, account_id)


def billing_options_json(account: dict, defaults: dict) -> dict:
    plans = account["billing_plans"] or list(PLAN_NAMES)
    terms = account["payment_terms_days"]
    return {
        "billing_plans": plans,
        "monthly_surcharge_percent": str(Decimal(account["monthly_surcharge_percent"]).quantize(Decimal("0.01"))),
        "payment_terms_days": defaults["payment_terms_days"] if terms is None else terms,
        "billing_day": account["billing_day"],
        "auto_pay": account["auto_pay"],
        "tax_id": account["tax_id"],
    }


OPTION_FIELDS = {"billing_plans", "monthly_surcharge_percent", "payment_terms_days", "billing_day", "auto_pay",
                 "tax_id"}  # fmt: skip


async def set_billing_options(actor: Principal, account_id: uuid.UUID, body: Any) -> dict:
    """Which billing plans the account may choose, the surcharge on monthly plans of yearly terms (NCE_RULES 2),
    its payment terms, billing day, automatic card payment and tax id. Fields left out keep their value."""
    _csp_only(actor)
    if not isinstance(body, dict) or not body or set(body) - OPTION_FIELDS:
        raise Invalid({"body": f"Send any of: {', '.join(sorted(OPTION_FIELDS))}."})
    changes: dict[str, Any] = {}
    if "billing_plans" in body:
        plans = body["billing_plans"]
        if not isinstance(plans, list) or not plans or any(p not in PLAN_NAMES for p in plans):
            raise Invalid({"billing_plans": "billing_plans lists one or more of monthly, annual, triennial."})
        changes["billing_plans"] = [p for p in PLAN_NAMES if p in plans]
    if "monthly_surcharge_percent" in body:
        surcharge = decimal_within(body["monthly_surcharge_percent"], integer_digits=5)  # numeric(9, 4)
        if surcharge is None or not Decimal(0) <= surcharge <= Decimal(100):
            raise Invalid(
                {"monthly_surcharge_percent": 'The surcharge is a percentage between 0 and 100, like "5.00".'}
            )
        changes["monthly_surcharge_percent"] = surcharge
    if "payment_terms_days" in body:
        changes["payment_terms_days"] = _whole(body["payment_terms_days"], "payment_terms_days", 0, 120,
                                               "payment_terms_days")  # fmt: skip
    if "billing_day" in body:
        changes["billing_day"] = _whole(body["billing_day"], "billing_day", 1, 28, "billing_day")
    if "auto_pay" in body:
        if not isinstance(body["auto_pay"], bool):
            raise Invalid({"auto_pay": "auto_pay is true or false."})
        changes["auto_pay"] = body["auto_pay"]
    if "tax_id" in body:
        changes["tax_id"] = str(body["tax_id"] or "").strip()[:40]
    async with db.transaction():
        account = await accounts.get_account(actor, account_id, for_update=True)
        if account["kind"] == "customer" and account["parent_id"] is not None:
            raise Invalid({"body": "A reseller's customer is billed to its reseller: set the reseller's options."})
        sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(changes))
        await db.execute(
            f"UPDATE accounts SET {sets}, updated_at = ${len(changes) + 2} WHERE id = $1",
            account_id,
            *changes.values(),
            clock.now(),
        )
        before = {name: account[name] for name in changes}
        await audit.record(actor, "account", account_id, "billing_options_set", before, changes)
        updated = await accounts.get_account(actor, account_id)
    return billing_options_json(updated, await settings())
