"""The basket's forms, decoded at the edge (app/web/forms.py); the basket checks what is left."""

from __future__ import annotations

from app.web.forms import UNSET, Choice, Form, IsoDate, Line, OfferId, UnsetType, Uuid, WholeNumber


class AddLineForm(Form):
    offer_id: OfferId | UnsetType = UNSET
    plan: Choice | UnsetType = UNSET  # "P1Y/annual"
    quantity: WholeNumber | UnsetType = UNSET
    customer_id: Uuid | UnsetType = UNSET


class LineForm(Form):
    quantity: WholeNumber | UnsetType = UNSET
    plan: Choice | UnsetType = UNSET
    coterm_end_date: IsoDate | UnsetType = UNSET


class CustomerForm(Form):
    customer_id: Uuid | UnsetType = UNSET


class BasketMcaForm(Form):
    first_name: Line | UnsetType = UNSET
    last_name: Line | UnsetType = UNSET
    email: Line | UnsetType = UNSET
    accepted_on: IsoDate | UnsetType = UNSET
