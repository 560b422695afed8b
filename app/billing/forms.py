"""The billing pages' forms, decoded at the edge (app/web/forms.py); the services check what is left."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from app.web.forms import (
    UNSET,
    Amount,
    CardChoice,
    CardNumber,
    Choice,
    Form,
    IsoDate,
    Line,
    Paragraph,
    Percent,
    UnsetType,
    Uuid,
    WholeNumber,
)

# a card's month, year and code as typed: few digits (the year is a smallint)
CardMonth = Annotated[str, Meta(max_length=10, pattern=r"^\s*\d{0,2}\s*$", description="Give the month, 1 to 12.")]
CardYear = Annotated[str, Meta(max_length=10, pattern=r"^\s*\d{0,4}\s*$", description="Give the year, like 2031.")]
Cvc = Annotated[str, Meta(max_length=10, pattern=r"^\s*\d{0,4}\s*$", description="Give the 3 or 4 digits.")]


class CardForm(Form):
    """A card typed in (the sandbox's fields, or Stripe's `payment_method`), or a saved one, and what to pay."""

    payment_method_id: CardChoice | UnsetType = UNSET
    payment_method: Line | UnsetType = UNSET
    number: CardNumber | UnsetType = UNSET
    exp_month: CardMonth | UnsetType = UNSET
    exp_year: CardYear | UnsetType = UNSET
    cvc: Cvc | UnsetType = UNSET
    amount: Amount | UnsetType = UNSET


class ManualPaymentForm(Form):
    amount: Amount | UnsetType = UNSET
    reference: Line | UnsetType = UNSET
    received_on: IsoDate | UnsetType = UNSET


class ApplyCreditForm(Form):
    credit_note_id: Uuid | UnsetType = UNSET


class CreditForm(Form):
    credit_limit: Amount | UnsetType = UNSET


class OptionsForm(Form):
    billing_plans: list[Choice] | UnsetType = UNSET
    monthly_surcharge_percent: Percent | UnsetType = UNSET
    payment_terms_days: WholeNumber | UnsetType = UNSET
    billing_day: WholeNumber | UnsetType = UNSET
    auto_pay: Choice | UnsetType = UNSET
    tax_id: Line | UnsetType = UNSET


class DunningForm(Form):
    reminder_days: Line | UnsetType = UNSET  # "1, 7"
    suspend_after_days: WholeNumber | UnsetType = UNSET
    use_default: Choice | UnsetType = UNSET


class RemoveCardForm(Form):
    card_id: Uuid | UnsetType = UNSET


class RunForm(Form):
    as_of: IsoDate | UnsetType = UNSET


class SellerForm(Form):
    seller_name: Line | UnsetType = UNSET
    seller_country: Choice | UnsetType = UNSET
    seller_address: Paragraph | UnsetType = UNSET
    seller_tax_id: Line | UnsetType = UNSET
    payment_instructions: Paragraph | UnsetType = UNSET


class TaxForm(Form):
    country: Choice | UnsetType = UNSET
    label: Line | UnsetType = UNSET
    rate: Percent | UnsetType = UNSET
    reverse_charge: Choice | UnsetType = UNSET
    remove: Choice | UnsetType = UNSET
