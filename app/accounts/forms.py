"""The account pages' forms, decoded at the edge (app/web/forms.py); the services check what is left."""

from __future__ import annotations

from app.web.forms import UNSET, Choice, Form, Line, UnsetType, Uuid


class AccountForm(Form):
    """A new account, an edit, or one field checked as it is typed (`account_id` names the account edited)."""

    kind: Choice | UnsetType = UNSET
    account_id: Uuid | UnsetType = UNSET
    reseller_id: Uuid | UnsetType = UNSET
    name: Line | UnsetType = UNSET
    email: Line | UnsetType = UNSET
    phone: Line | UnsetType = UNSET
    country: Choice | UnsetType = UNSET
    currency: Choice | UnsetType = UNSET
    address_line1: Line | UnsetType = UNSET
    address_line2: Line | UnsetType = UNSET
    city: Line | UnsetType = UNSET
    state: Line | UnsetType = UNSET
    postal_code: Line | UnsetType = UNSET
    mpn_id: Line | UnsetType = UNSET
    tenant_domain: Line | UnsetType = UNSET
    tenant_id: Line | UnsetType = UNSET
    qualification: Choice | UnsetType = UNSET


class InviteForm(Form):
    email: Line | UnsetType = UNSET
    name: Line | UnsetType = UNSET


class ActiveForm(Form):
    active: Choice | UnsetType = UNSET


class McaForm(Form):
    """The customer's acceptance of the Microsoft Customer Agreement (or its reseller's attestation)."""

    first_name: Line | UnsetType = UNSET
    last_name: Line | UnsetType = UNSET
    email: Line | UnsetType = UNSET


class QualificationForm(Form):
    qualification: Choice | UnsetType = UNSET
    education_segment: Choice | UnsetType = UNSET
    website: Line | UnsetType = UNSET
    validation_code: Line | UnsetType = UNSET
