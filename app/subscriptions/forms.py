"""A subscription page's forms and the CSP's health and import forms, decoded at the edge (app/web/forms.py)."""

from __future__ import annotations

from app.web.forms import UNSET, Choice, Form, IsoDate, Line, OfferId, UnsetType, Uuid, WholeNumber


class SeatsForm(Form):
    quantity: WholeNumber | UnsetType = UNSET


class AutoRenewForm(Form):
    auto_renew: Choice | UnsetType = UNSET


class CancelForm(Form):
    # the whole-subscription button sends no quantity; "Cancel some seats" sends one
    quantity: WholeNumber | UnsetType = UNSET


class ScheduleForm(Form):
    quantity: WholeNumber | UnsetType = UNSET
    offer_id: OfferId | UnsetType = UNSET
    plan: Choice | UnsetType = UNSET
    coterm_end_date: IsoDate | UnsetType = UNSET


class StatusForm(Form):
    status: Choice | UnsetType = UNSET


class UpgradeForm(Form):
    offer_id: OfferId | UnsetType = UNSET
    quantity: WholeNumber | UnsetType = UNSET


class FixDriftForm(Form):
    direction: Choice | UnsetType = UNSET


class ImportForm(Form):
    tenant_id: Line | UnsetType = UNSET
    reseller_id: Uuid | UnsetType = UNSET
