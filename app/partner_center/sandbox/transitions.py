"""Upgrades and trial conversions through Microsoft's transitions API (facts 6.5, 7.6; NCE_RULES 4).

A subscription moves up to one of its SKU's upgrade targets, all its seats (full) or some (partial). The target
co-terms with the source, is priced at today's price list and loses the source's promotion; a partial upgrade's
seats keep the cancellation windows they had. A trial converts to a full paid term of its target.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from app import clock, db
from app.partner_center.sandbox import catalog, pricing, rules, shapes
from app.partner_center.sandbox.errors import PartnerCenterFault, bad_request, not_found
from app.partner_center.sandbox.service import (
    LineRefused,
    _batches,
    _charge_for,
    _create_subscription,
    _customer,
    _first,
    _post_charges,
    _promotion_for_line,
    _set_batches,
    _subscription_row,
    _uuid,
    check_tenant_cap,
    price_change_date,
    settle_orders,
)

TRANSITION_TYPES = ("transition_only", "transition_with_license_transfer")


def _offer_of(sub: dict) -> catalog.Offer:
    offer = catalog.offer_by_key(sub["product_id"], sub["sku_id"])
    if offer is None or sub["is_legacy"]:
        raise bad_request("Only new commerce subscriptions can be transitioned.", 7)
    return offer


def _plan_supported(source: dict, target: catalog.Offer) -> bool:
    """A trial converts to any plan of its target; a paid subscription keeps its term and billing cycle."""
    return source["is_trial"] or (source["term_duration"], source["billing_cycle"]) in target.plans


def _errors(source: dict, offer: catalog.Offer, target: catalog.Offer, kind: str, gdap: bool) -> list[dict]:
    codes = rules.transition_errors(
        status=source["status"],
        is_upgrade_path=target.key in offer.upgrade_targets,
        plan_supported=_plan_supported(source, target),
        license_transfer=kind == "transition_with_license_transfer",
        has_directory_access=gdap,
    )
    return [{"code": code, "description": rules.TRANSITION_ERRORS[code]} for code in codes]


async def _target_subscriptions(customer_id: uuid.UUID, target: catalog.Offer) -> list[dict]:
    return await db.fetch(
        "SELECT * FROM pcs_subscriptions WHERE customer_id = $1 AND product_id = $2 AND sku_id = $3 "
        "AND NOT is_legacy AND status IN ('active', 'suspended') ORDER BY created_at",
        customer_id,
        target.product_id,
        target.sku_id,
    )


def _receiving_errors(source: dict, receiving: dict) -> list[dict]:
    """Can an existing subscription of the target offer receive the seats? Same term, active (2023 API)."""
    errors = []
    if receiving["status"] != "active":
        errors.append({"code": 2, "description": "The target subscription is not active."})
    if not source["is_trial"] and receiving["term_duration"] != source["term_duration"]:
        errors.append(
            {"code": 3, "description": "The subscription's term duration differs from the source subscription's."}
        )
    return errors


async def eligibilities(customer_id: str, subscription_id: str, eligibility_type: str) -> list[dict]:
    """GET .../transitionEligibilities: every upgrade target with whether each transition type is allowed."""
    customer = await _customer(customer_id)
    await settle_orders(clock.now(), customer["id"])
    source = await _subscription_row(customer["id"], subscription_id)
    offer = _offer_of(source)
    operation_id = str(uuid.uuid4())
    items = []
    for key in offer.upgrade_targets:
        target = catalog.offer_by_key(*key.split(":"))
        if target is None:
            continue
        item: dict[str, Any] = {
            "operationId": operation_id,
            "catalogItemId": catalog.catalog_item_id(target),
            "title": target.sku_title,
            "description": target.description,
            "quantity": source["quantity"],
            "eligibilities": [
                {
                    "isEligible": not (errors := _errors(source, offer, target, kind, customer["gdap"])),
                    "transitionType": kind,
                    "errors": errors,
                }
                for kind in TRANSITION_TYPES
            ],
            "attributes": {"objectType": "TransitionEligibility"},
        }
        if eligibility_type.lower() == "immediate":
            item["subscriptionEligibilities"] = [
                {
                    "isEligible": not (errors := _receiving_errors(source, r)),
                    "subscriptionId": str(r["id"]),
                    "subscriptionFriendlyName": r["friendly_name"],
                    "subscriptionTermDuration": r["term_duration"],
                    "subscriptionBillingCycle": r["billing_cycle"],
                    "errors": errors,
                }
                for r in await _target_subscriptions(customer["id"], target)
            ]
        items.append(item)
    return items


def _refuse(errors: list[dict]) -> PartnerCenterFault:
    return bad_request(errors[0]["description"], errors[0]["code"])


async def create(customer_id: str, subscription_id: str, body: dict) -> dict:
    """POST .../transitions: move seats to the target now, bill the move (`convert`) and record the operation."""
    customer = await _customer(customer_id)
    now = clock.now()
    await settle_orders(now, customer["id"])
    source = await _subscription_row(customer["id"], subscription_id, lock=True)
    offer = _offer_of(source)
    parsed = str(_first(body, "toCatalogItemId", default="") or "").split(":")
    target = catalog.offer_by_key(parsed[0], parsed[1]) if len(parsed) >= 2 else None
    if target is None:
        raise bad_request(rules.TRANSITION_ERRORS[8], 8)
    kind = str(_first(body, "transitionType", default="transition_only") or "transition_only").lower()
    if kind not in TRANSITION_TYPES:
        raise bad_request(f"The transition type {kind} is not valid.", 0)
    if errors := _errors(source, offer, target, kind, customer["gdap"]):
        raise _refuse(errors)
    quantity = int(_first(body, "quantity", default=source["quantity"]) or 0)
    if source["is_trial"]:
        if not target.min_quantity <= quantity <= target.max_quantity:
            raise bad_request(f"The quantity must be between {target.min_quantity} and {target.max_quantity}.", 0)
    elif not 1 <= quantity <= source["quantity"]:
        raise bad_request("An upgrade moves between 1 and the subscription's quantity of seats; it adds none.", 0)
    await check_tenant_cap(customer["id"], target, quantity)
    term = _first(body, "termDuration", default=None) or source["term_duration"]
    cycle = str(_first(body, "billingCycle", default=None) or source["billing_cycle"]).lower()
    if source["is_trial"] and (term, cycle) not in target.plans:
        raise bad_request(rules.TRANSITION_ERRORS[10], 10)
    if not source["is_trial"]:
        term, cycle = source["term_duration"], source["billing_cycle"]

    receiving_id = _first(body, "toSubscriptionId")
    if receiving_id:
        receiving = await _subscription_row(customer["id"], receiving_id, lock=True)
        if (receiving["product_id"], receiving["sku_id"]) != (target.product_id, target.sku_id):
            raise bad_request("The target subscription is not of the target offer.", 8)
        if errors := _receiving_errors(source, receiving):
            raise _refuse(errors)
        to_id = await _add_to(receiving, source, quantity, now)
    else:
        to_id = await _new_target(customer, source, target, quantity, term, cycle, body, now)
    await _take_from_source(source, quantity, now)
    if kind == "transition_with_license_transfer":
        await _transfer_licences(customer["id"], offer, target, quantity)

    events = [
        {"name": "Conversion", "status": "Started", "timestamp": shapes.iso(now)},
        {"name": "Conversion", "status": "Completed", "timestamp": shapes.iso(now)},
    ]
    if kind == "transition_with_license_transfer":
        events.append({"name": "LicenseReassignment", "status": "Completed", "timestamp": shapes.iso(now)})
    transition = {
        "operationId": str(uuid.uuid4()),
        "fromCatalogItemId": catalog.catalog_item_id(offer),
        "fromSubscriptionId": str(source["id"]),
        "toCatalogItemId": catalog.catalog_item_id(target),
        "toSubscriptionId": str(to_id),
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": cycle,
        "transitionType": kind,
        "promotionId": _first(body, "promotionId"),
        "events": [{**e, "attributes": {"objectType": "TransitionEvent"}} for e in events],
        "attributes": {"objectType": "Transition"},
    }
    await db.execute(
        "INSERT INTO pcs_transitions (id, customer_id, from_subscription_id, to_subscription_id, data, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.UUID(transition["operationId"]),
        customer["id"],
        source["id"],
        to_id,
        json.dumps(transition),
        now,
    )
    return transition


async def _new_target(
    customer: dict,
    source: dict,
    target: catalog.Offer,
    quantity: int,
    term: str,
    cycle: str,
    body: dict,
    now: datetime,
) -> uuid.UUID:
    """The receiving subscription: today's price (a named promotion only if eligible; the source's is lost),
    ending with the source (a trial converts to a full term)."""
    market = pricing.market_for(customer["country"])
    price = pricing.unit_price(target.product_id, target.sku_id, term, cycle, market, await price_change_date(), now)
    if price is None:
        raise bad_request(rules.TRANSITION_ERRORS[10], 10)
    line = {
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": cycle,
        "promotionId": _first(body, "promotionId"),
        "customTermEndDate": None if source["is_trial"] else source["end_date"].isoformat(),
    }
    try:
        line["promotionId"] = await _promotion_for_line(customer["id"], target, line, now.date())
    except LineRefused as refused:
        raise bad_request(refused.description, refused.code) from None
    if line["promotionId"]:
        promotion = catalog.promotion_by_id(line["promotionId"])
        assert promotion is not None  # _promotion_for_line returns known promotions only
        price = rules.promoted_price(price, promotion.discount_for(target.product_id, target.sku_id, term, cycle))
    moved = None
    if not source["is_trial"]:
        _, moved = rules.move_seats(await _source_batches(source), quantity)
    return await _create_subscription(
        customer,
        target,
        target.availability_id,
        line,
        source["order_id"],
        price,
        source["partner_id"],
        now,
        charge_type="convert",
        batches=moved,
    )


async def _add_to(receiving: dict, source: dict, quantity: int, now: datetime) -> uuid.UUID:
    """Seats moved onto an existing subscription of the target: billed there for the rest of its period."""
    if source["is_trial"]:
        moved = [(quantity, now + rules.CANCELLATION_WINDOW)]
    else:
        _, moved = rules.move_seats(await _source_batches(source), quantity)
    batches = await _source_batches(receiving)
    await _set_batches(receiving["id"], batches + moved)
    new_quantity = receiving["quantity"] + quantity
    if receiving["term_duration"] and receiving["end_date"]:
        period, per_seat = _charge_for(receiving, now.date())
        charges = rules.quantity_change_charges("convert", receiving["quantity"], new_quantity, per_seat)
        await _post_charges(receiving, charges, period, receiving["order_id"], now)
    await db.execute(
        "UPDATE pcs_subscriptions SET quantity = $2, scheduled = NULL, etag = etag + 1 WHERE id = $1",
        receiving["id"],
        new_quantity,
    )
    return receiving["id"]


async def _take_from_source(source: dict, quantity: int, now: datetime) -> None:
    """The source gives up the seats: credited for the rest of its period; gone when all of them moved. Any
    scheduled change is dropped, as with every immediate change (facts 7.4)."""
    remaining = 0 if source["is_trial"] else source["quantity"] - quantity
    if not source["is_trial"] and source["term_duration"] and source["end_date"]:
        period, per_seat = _charge_for(source, now.date())
        charges = [
            c for c in rules.quantity_change_charges("convert", source["quantity"], remaining, per_seat) if c.quantity
        ]
        await _post_charges(source, charges, period, source["order_id"], now)
    if remaining:
        kept, _ = rules.move_seats(await _source_batches(source), quantity)
        await _set_batches(source["id"], kept)
        await db.execute(
            "UPDATE pcs_subscriptions SET quantity = $2, scheduled = NULL, etag = etag + 1 WHERE id = $1",
            source["id"],
            remaining,
        )
    else:
        await _set_batches(source["id"], [])
        await db.execute(
            "UPDATE pcs_subscriptions SET status = 'deleted', auto_renew = false, scheduled = NULL, "
            "status_changed_at = $2, etag = etag + 1 WHERE id = $1",
            source["id"],
            now,
        )


async def _source_batches(sub: dict) -> list[tuple[int, datetime]]:
    batches = await _batches(sub["id"])
    missing = sub["quantity"] - sum(q for q, _ in batches)
    # seats without a batch (windows long closed and pruned) move with a closed window
    return batches + ([(missing, sub["window_ends_at"] or sub["created_at"])] if missing > 0 else [])


async def _transfer_licences(customer_id: uuid.UUID, source: catalog.Offer, target: catalog.Offer, seats: int) -> None:
    """transition_with_license_transfer: up to `seats` users holding the source's licence get the target's."""
    users = await db.fetch(
        "SELECT user_id FROM pcs_user_licenses WHERE customer_id = $1 AND sku_id = $2 ORDER BY assigned_at LIMIT $3",
        customer_id,
        uuid.UUID(source.provisioning_id),
        seats,
    )
    ids = [r["user_id"] for r in users]
    if not ids:
        return
    await db.execute(
        "INSERT INTO pcs_user_licenses (user_id, customer_id, sku_id, assigned_at) "
        "SELECT u, $2, $3, $4 FROM unnest($1::uuid[]) AS u ON CONFLICT (user_id, sku_id) DO NOTHING",
        ids,
        customer_id,
        uuid.UUID(target.provisioning_id),
        clock.now(),
    )
    await db.execute(
        "DELETE FROM pcs_user_licenses WHERE customer_id = $1 AND sku_id = $2 AND user_id = ANY($3::uuid[])",
        customer_id,
        uuid.UUID(source.provisioning_id),
        ids,
    )


async def history(customer_id: str, subscription_id: str, operation_id: str | None) -> dict:
    """GET .../transitions: the subscription's transitions, newest last, under `transition` as Microsoft lists them."""
    customer = await _customer(customer_id)
    source = await _subscription_row(customer["id"], subscription_id)
    rows = await db.fetch(
        "SELECT data FROM pcs_transitions WHERE customer_id = $1 AND from_subscription_id = $2 "
        "AND ($3::uuid IS NULL OR id = $3) ORDER BY created_at",
        customer["id"],
        source["id"],
        _uuid(operation_id) if operation_id else None,
    )
    if operation_id and not rows:
        raise not_found("Transition", 800002)
    items = [json.loads(r["data"]) for r in rows]
    return {"totalCount": len(items), "transition": items, "attributes": {"objectType": "Collection"}}
