"""The subscriptions API's bodies, decoded at the edge (app/web/schemas.py), and its answers (app/web/answers.py);
API.md Subscriptions."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from app.web.answers import CurrencyCode, DateTimeText, DecimalText, OfferIdText
from app.web.schemas import Answer, Body, IsoDate, OfferId, Quantity, answer

Seats = Annotated[int, Meta(ge=1, le=2_147_483_647)]


class ChangeBody(Body):
    """`PATCH /subscriptions/{id}`: seats, auto-renew, or both."""

    quantity: Quantity | UnsetType = UNSET
    auto_renew: bool | UnsetType = UNSET


class CancelBody(Body):
    """`POST /subscriptions/{id}/cancel`: some seats, or (left out) the whole subscription."""

    quantity: Seats | UnsetType = UNSET


class ScheduleBody(Body):
    """`PUT /subscriptions/{id}/scheduled-change`: what the next term should be."""

    quantity: Seats | UnsetType = UNSET
    offer_id: OfferId | UnsetType = UNSET
    term: Literal["P1M", "P1Y", "P3Y"] | UnsetType = UNSET
    billing_plan: Literal["monthly", "annual", "triennial"] | UnsetType = UNSET
    coterm_end_date: IsoDate | UnsetType | None = UNSET


class UpgradeBody(Body):
    """`POST /subscriptions/{id}/upgrade`: the target, and the seats to move (left out: all of them)."""

    offer_id: OfferId
    quantity: Seats | UnsetType = UNSET


# --- Answers (API.md Subscriptions) ----------------------------------------------------------------------------


class ScheduledChange(Answer):
    """What the next term will be (NCE_RULES 4). Read back from Microsoft a part may be missing, hence the nulls."""

    quantity: int | None
    offer_id: OfferIdText
    term: str | None
    billing_plan: str | None


class Subscription(Answer):
    """A subscription at the viewer's price: a customer sees its own, the reseller and the CSP what the bill-to
    pays."""

    id: uuid.UUID
    customer_id: uuid.UUID
    offer_id: OfferIdText
    title: str
    status: Literal["pending", "active", "suspended", "cancelled", "expired", "disabled", "deleted"]
    quantity: int
    term: str
    billing_plan: str
    start_date: date | None
    end_date: date | None
    auto_renew: bool
    unit_price: DecimalText
    currency: CurrencyCode
    promotion_id: str | None
    refundable_quantity: int
    cancellation_window_ends_at: DateTimeText | None
    scheduled_change: ScheduledChange | None
    is_trial: bool
    partner_center_id: str | None


class SubscriptionListItem(Subscription):
    """A subscription in a list, named with its customer."""

    customer_name: str


class SubscriptionPage(Answer):
    items: list[SubscriptionListItem]
    next: str | None


class UpgradeOption(Answer):
    """An upgrade target of a subscription: whether all its seats can move now (and why not), at what price, and
    what the move charges and credits now."""

    offer_id: OfferIdText
    title: str
    eligible: bool
    reason: str | None
    term: str
    billing_plan: str
    unit_price: DecimalText | None
    currency: CurrencyCode
    end_date: date | None
    charge_now: DecimalText | None
    credit_now: DecimalText | None
    promotion_lost: str | None
    promotion_id: str | None
    min_quantity: int
    max_quantity: int


class UpgradeOptionPage(Answer):
    items: list[UpgradeOption]
    next: str | None


class SubscriptionEvent(Answer):
    """A line of the change log: who, when, what, before and after."""

    at: DateTimeText
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class SubscriptionEventPage(Answer):
    items: list[SubscriptionEvent]
    next: str | None


def subscription_answer(subscription: dict) -> Subscription:
    """The service's subscription (app/subscriptions/service.py subscription_json) as the answer."""
    return answer(Subscription, subscription)


def subscription_page(subscriptions: list[dict], next_cursor: str | None) -> SubscriptionPage:
    return answer(SubscriptionPage, {"items": subscriptions, "next": next_cursor})


def upgrade_options_page(options: list[dict]) -> UpgradeOptionPage:
    """Every target at once: the list is never paged."""
    return answer(UpgradeOptionPage, {"items": options, "next": None})


def events_page(events: list[dict]) -> SubscriptionEventPage:
    """The newest 200 changes at once: the log is never paged."""
    return answer(SubscriptionEventPage, {"items": events, "next": None})
