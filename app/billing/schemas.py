"""The billing API's bodies (API.md Billing, and the credit and billing-options routes of Accounts), decoded at the
edge (app/web/schemas.py). The services still apply the billing rules (balances, currencies' decimals, ranges
between fields) with their own messages."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from app.operations.schemas import Operation
from app.web.answers import CurrencyCode, DecimalText, Fx
from app.web.schemas import Amount, Answer, Body, Country, IsoDate, Rate, Uuid

Days = Annotated[int, Meta(ge=0, le=365)]
# a percentage between 0 and 100 with at most 4 decimals (numeric(7, 4) and numeric(9, 4))
Percent = Annotated[str, Meta(max_length=12, pattern=r"^\s*\d{1,3}(\.\d{1,4})?\s*$")]
TaxId = Annotated[str, Meta(max_length=40, pattern=r"^[^\x00-\x1f\x7f]*$")]
Reference = Annotated[str, Meta(max_length=140, pattern=r"^[^\x00-\x1f\x7f]*$")]


class PaymentBody(Body):
    """`POST /invoices/{id}/payments`: a payment received outside Cloudseat (manual) or charged to a saved card."""

    amount: Amount
    method: Literal["manual", "card"]
    reference: Reference | UnsetType | None = UNSET
    payment_method_id: Uuid | UnsetType | None = UNSET
    received_on: IsoDate | UnsetType | None = UNSET


class CreditBody(Body):
    """`PUT /accounts/{id}/credit`: a limit in the account's currency, or null for none."""

    credit_limit: Amount | None


class BillingOptionsBody(Body):
    """`PUT /accounts/{id}/billing-options`: the fields it names change, the others keep their value."""

    billing_plans: Annotated[list[Literal["monthly", "annual", "triennial"]], Meta(min_length=1, max_length=3)] | (
        UnsetType
    ) = UNSET
    monthly_surcharge_percent: Percent | UnsetType = UNSET
    payment_terms_days: Annotated[int, Meta(ge=0, le=120)] | UnsetType = UNSET
    billing_day: Annotated[int, Meta(ge=1, le=28)] | UnsetType = UNSET
    auto_pay: bool | UnsetType = UNSET
    tax_id: TaxId | UnsetType | None = UNSET


class DunningBody(Body):
    """`PUT /billing/dunning-policy` and `PUT /accounts/{id}/dunning-policy` (there `null`: the CSP's default)."""

    reminder_days: Annotated[list[Days], Meta(max_length=20)]
    suspend_after_days: Annotated[int, Meta(ge=1, le=365)]


class TaxRateBody(Body):
    """`PUT /billing/tax-rates`: the rate for one country (the address rules' countries)."""

    country: Country
    label: Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]*$")]
    rate: Rate
    reverse_charge: bool = False


class RunBody(Body):
    """`POST /billing/runs`: invoice what is due by `as_of` (today when left out), for every account or one."""

    as_of: IsoDate | UnsetType | None = UNSET
    account_id: Uuid | UnsetType | None = UNSET


# --- Answers (API.md Billing), in the order app/billing/options.py, payments.py and runs.py write them ---------


class CreditAnswer(Answer):
    """Amounts in the account's `currency`; `parts` are what the exposure is made of (name -> amount)."""

    credit_limit: str | None
    exposure: str
    available: str | None
    currency: str
    parts: dict[str, str]


class BillingOptionsAnswer(Answer):
    billing_plans: list[Literal["monthly", "annual", "triennial"]]
    monthly_surcharge_percent: str
    payment_terms_days: int
    billing_day: int
    auto_pay: bool
    tax_id: str


class DunningAnswer(Answer):
    reminder_days: list[int]
    suspend_after_days: int


class AccountDunningAnswer(Answer):
    """`default`: the account follows the CSP's default rules (no override of its own)."""

    reminder_days: list[int]
    suspend_after_days: int
    default: bool


class TaxRateAnswer(Answer):
    country: str
    label: str
    rate: str
    reverse_charge: bool


class TaxRateList(Answer):
    items: list[TaxRateAnswer]
    next: str | None


class PaymentAnswer(Answer):
    id: str
    invoice_id: str
    amount: str
    currency: str
    method: Literal["manual", "card", "credit_note"]
    reference: str | None
    status: Literal["pending", "succeeded", "failed"]
    error: str | None
    automatic: bool
    received_on: str
    created_at: str


class PaymentList(Answer):
    items: list[PaymentAnswer]
    next: str | None


class RunStarted(Answer):
    operation: Operation
    run_id: str


class RunAnswer(Answer):
    id: str
    as_of: str
    issue_date: str
    billing_day: int | None
    account_id: str | None
    status: Literal["queued", "running", "completed", "failed"]
    invoices: int
    credit_notes: int
    error: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


# --- Invoices and credit notes (app/billing/invoices.py document_json), charges and deferred revenue (service.py)

DocumentStatus = Literal["issued", "partially_paid", "paid", "void"]
ChargeType = Literal[
    "new", "add_quantity", "remove_quantity", "cancel", "renew", "cycle", "convert", "surcharge", "promotion"
]
Month = Annotated[str, Meta(pattern=r"^\d{4}-\d{2}$", description="A calendar month, e.g. 2027-01.")]


class DocumentLine(Answer):
    """A line as a person reads it (NCE_RULES 5, presentation), in the document's currency; `fx` when converted."""

    subscription_id: uuid.UUID
    customer_name: str
    description: str
    charge_type: ChargeType
    quantity: int
    unit_price: DecimalText
    period_start: date
    period_end: date
    amount: DecimalText
    fx: Fx | None


class Document(Answer):
    """An invoice, or a credit note in the same shape (`kind`; its amounts negative), as the lists show it: without
    its lines. `balance` is what is left to pay (or to refund)."""

    id: uuid.UUID
    kind: Literal["invoice", "credit_note"]
    number: str
    account_id: uuid.UUID
    account_name: str
    currency: CurrencyCode
    issue_date: date
    due_date: date
    status: DocumentStatus
    subtotal: DecimalText
    tax: DecimalText
    tax_rate: DecimalText
    tax_label: str
    reverse_charge: bool
    total: DecimalText
    amount_paid: DecimalText
    balance: DecimalText


class DocumentWithLines(Document):
    """`GET /invoices/{id}` and `GET /credit-notes/{id}`: the document and its lines."""

    lines: list[DocumentLine]


class DocumentList(Answer):
    items: list[Document]
    next: str | None


class ChargeAnswer(Answer):
    """A line of the ledger: amounts in the bill-to's `currency` (`fx` when converted), `cost_amount` in the cost's
    own currency; `invoice_id` null until it is invoiced."""

    id: int
    subscription_id: uuid.UUID
    charge_type: ChargeType
    quantity: int
    per_seat_amount: DecimalText
    amount: DecimalText
    cost_amount: DecimalText
    currency: CurrencyCode
    fx: Fx | None
    period_start: date
    period_end: date
    invoice_id: uuid.UUID | None


class ChargeList(Answer):
    items: list[ChargeAnswer]
    next: str | None


class DeferredRevenueAnswer(Answer):
    """One currency's month of upfront plans: billed, earned (recognised), and still to earn at the month's end."""

    currency: CurrencyCode
    month: Month
    billed: DecimalText
    recognised: DecimalText
    deferred: DecimalText


class DeferredRevenueList(Answer):
    items: list[DeferredRevenueAnswer]
    next: str | None
