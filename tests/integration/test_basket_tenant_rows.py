"""The single-row reads and writes of a basket and of a customer's tenant fields (now through their Piccolo tables):
a line is read, changed and removed only by its own user, the basket keeps its customer, and a qualification's
status sets the segment and the request time only when it should."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from app import clock, db
from app.accounts import tenants
from app.config import Settings
from app.errors import NotFound
from app.orders import basket
from tests import factories

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
LATER = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)


async def test_a_basket_line_is_added_changed_and_removed_by_its_own_user_only(tx):
    reseller = await factories.reseller()
    customer = await factories.customer(reseller["id"])
    seller = await factories.user(reseller)
    other = await factories.user(reseller)
    assert (await basket.count(seller), await basket.customer_id(seller)) == (0, None)

    with clock.use_fixed_clock(NOW):
        wanted = {"offer_id": "cfq7ttc0lh18:0001", "plan": "P1Y/annual", "quantity": "2", "customer_id": customer["id"]}
        await basket.add(seller, wanted)
    assert (await basket.count(seller), await basket.customer_id(seller)) == (1, customer["id"])
    line_id = await db.fetchval("SELECT id FROM basket_lines WHERE user_id = $1", seller.user_id)
    assert isinstance(line_id, uuid.UUID)
    line = await basket._line(seller, line_id)
    assert {k: line[k] for k in ("user_id", "offer_id", "quantity", "term", "billing_plan", "coterm_end_date")} == {
        "user_id": seller.user_id,
        "offer_id": "CFQ7TTC0LH18:0001",
        "quantity": 2,
        "term": "P1Y",
        "billing_plan": "annual",
        "coterm_end_date": None,
    }
    assert line["added_at"] == NOW

    await basket.update(seller, line_id, {"quantity": "5", "coterm_end_date": "2027-06-30"})
    line = await basket._line(seller, line_id)
    assert (line["quantity"], line["term"], line["coterm_end_date"]) == (5, "P1Y", date(2027, 6, 30))

    with pytest.raises(NotFound):
        await basket.update(other, line_id, {"quantity": "7"})
    with pytest.raises(NotFound):
        await basket.remove(other, line_id)
    assert (await basket._line(seller, line_id))["quantity"] == 5

    await basket.set_customer(seller, None)
    assert await basket.customer_id(seller) is None
    await basket.set_customer(seller, customer["id"])
    assert await basket.customer_id(seller) == customer["id"]

    await basket.remove(seller, line_id)
    assert await basket.count(seller) == 0
    with pytest.raises(NotFound):
        await basket.remove(seller, line_id)


async def _tenant_fields(account_id: uuid.UUID) -> dict:
    row = await db.fetchrow(
        "SELECT qualification, qualification_request, qualification_status, qualification_requested_at, "
        "gdap_relationship_id, gdap_status, updated_at FROM accounts WHERE id = $1",
        account_id,
    )
    assert row is not None
    return row


async def test_a_qualification_becomes_the_segment_once_approved_and_keeps_its_request_time(tx):
    customer = await factories.customer()
    with clock.use_fixed_clock(NOW):
        await tenants._store_qualification(None, customer["id"], "education", "InReview", requested=True)
    assert await _tenant_fields(customer["id"]) == {
        "qualification": "commercial",  # not yet: Microsoft is still vetting
        "qualification_request": "education",
        "qualification_status": "InReview",
        "qualification_requested_at": NOW,
        "gdap_relationship_id": None,
        "gdap_status": None,
        "updated_at": NOW,
    }
    with clock.use_fixed_clock(LATER):
        await tenants._store_qualification(None, customer["id"], "education", "Approved")
        await tenants._store(None, customer["id"], "rel-1", "approvalPending", "gdap_requested")
    assert await _tenant_fields(customer["id"]) == {
        "qualification": "education",
        "qualification_request": "education",
        "qualification_status": "Approved",
        "qualification_requested_at": NOW,  # a status seen later is not a new request
        "gdap_relationship_id": "rel-1",
        "gdap_status": "approvalPending",
        "updated_at": LATER,
    }


async def test_the_status_job_for_a_vanished_account_does_nothing(tx, settings: Settings):
    assert await tenants.run_job({"account_id": str(uuid.uuid4())}, settings) is None
