"""The catalog pages' forms, decoded at the edge (app/web/forms.py); the services check what is left."""

from __future__ import annotations

import msgspec

from app.web.forms import UNSET, Choice, Form, IsoDate, Line, OfferId, Percent, Rate, UnsetType, Uuid


class CatalogSettingsForm(Form):
    markets: Line | UnsetType = UNSET
    currencies: Line | UnsetType = UNSET
    default_margin_kind: Choice | UnsetType = UNSET
    default_margin_percent: Percent | UnsetType = UNSET


class FxRateForm(Form):
    """An exchange rate from a day on (`from`, `to`: currency codes)."""

    from_: Choice | UnsetType = msgspec.field(default=UNSET, name="from")
    to: Choice | UnsetType = UNSET
    effective_from: IsoDate | UnsetType = UNSET
    rate: Rate | UnsetType = UNSET


class MarginForm(Form):
    scope: Choice | UnsetType = UNSET
    customer_id: Uuid | UnsetType = UNSET
    reseller_id: Uuid | UnsetType = UNSET
    offer_id: OfferId | UnsetType = UNSET
    kind: Choice | UnsetType = UNSET
    percent: Percent | UnsetType = UNSET
    allow_below_cost: Choice | UnsetType = UNSET
