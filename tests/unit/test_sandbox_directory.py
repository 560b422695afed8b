"""The sandbox's directory rules that need no database: seat counts per Entra SKU, GDAP durations and moves."""

import pytest

from app.partner_center.client import gdap_approval_link
from app.partner_center.sandbox import catalog, directory
from app.partner_center.sandbox.directory import SeatCounts
from app.partner_center.sandbox.errors import PartnerCenterFault

pytestmark = pytest.mark.unit

POWER_BI = "f8a1db68-be16-40ed-86d5-cb42ce701560"  # Power BI Pro's Entra SKU, shared by its trial
BASIC = "3b555118-da6a-4418-894f-7df1e2096870"  # Microsoft 365 Business Basic


def sub(key: str, status: str = "active", quantity: int = 1, *, is_legacy: bool = False) -> dict:
    product_id, sku_id = key.split(":")
    return {"product_id": product_id, "sku_id": sku_id, "status": status, "quantity": quantity, "is_legacy": is_legacy}


def test_a_trial_and_its_paid_sku_count_as_one_entra_sku():
    counts = directory.seat_counts([sub("CFQ7TTC0L3PB:0001", quantity=3), sub("CFQ7TTC0L3PB:0007", quantity=25)])
    assert counts == {POWER_BI: SeatCounts(active=28)}
    assert directory.product_sku(POWER_BI) == {
        "id": POWER_BI,
        "name": "Power BI Pro",  # the paid offer's name, not the trial's
        "skuPartNumber": "POWER_BI_PRO",
        "targetType": "User",
        "licenseGroupId": "group1",
    }


def test_units_by_status_and_what_is_not_counted():
    counts = directory.seat_counts(
        [
            sub(catalog.BASIC, "active", 2),
            sub(catalog.BASIC, "pending", 1),
            sub(catalog.BASIC, "suspended", 4),
            sub(catalog.BASIC, "expired", 8),
            sub(catalog.BASIC, "disabled", 16),
            sub(catalog.BASIC, "deleted", 32),
            sub(catalog.BASIC, "cancelled", 64),
            sub(catalog.BASIC, "active", 128, is_legacy=True),
            sub("DG7GMGF0DVSV:000P", "active", 5),  # a software subscription has no Entra licence
        ]
    )
    assert counts == {BASIC: SeatCounts(active=3, suspended=4, warning=8)}
    assert counts[BASIC].total == 15


@pytest.mark.parametrize(
    ("counts", "consumed", "available", "status"),
    [
        (SeatCounts(active=5), 1, 4, "Enabled"),  # Microsoft's EMS E3 example (facts 8.2)
        (SeatCounts(active=1), 3, 0, "Enabled"),  # over-assigned after a reduction: never below zero
        (SeatCounts(suspended=2), 0, 0, "Suspended"),  # suspended seats cannot be assigned
        (SeatCounts(suspended=2, warning=1), 0, 0, "Warning"),
        (SeatCounts(), 1, 0, "Deleted"),
    ],
)
def test_available_units_and_capability_status(counts, consumed, available, status):
    assert counts.available(consumed) == available
    assert counts.capability_status == status


def test_licence_skus_without_a_known_part_number_get_one_from_their_title():
    defender = catalog.offer_by_key("CFQ7TTC0HX56", "0002")
    assert not defender.sku_part_number
    assert directory.product_sku(defender.provisioning_id)["skuPartNumber"] == "MICROSOFT_DEFENDER_FOR_BUSINESS"


@pytest.mark.parametrize(
    ("text", "days"),
    [("P730D", 730), ("P2Y", 730), ("P1D", 1), ("P90D", 90), ("PT8H", None), ("730", None), (None, None)],
)
def test_gdap_duration_days(text, days):
    assert directory.duration_days(text) == days


def test_gdap_relationship_moves():
    move = directory.next_relationship_status
    assert move("created", "lockForApproval") == "approvalPending"
    assert move("approvalPending", "approve") == "active"
    assert move("active", "terminate") == "terminated"
    assert move("created", "approve") is None  # the customer approves only what the partner locked
    assert move("approvalPending", "terminate") is None
    assert move("terminated", "lockForApproval") is None
    assert move("expired", "terminate") is None


def test_deleted_users_filter():
    assert directory.wants_deleted_users(None) is False
    assert directory.wants_deleted_users('{"Field":"UserState","Value":"Inactive","Operator":"equals"}') is True
    assert directory.wants_deleted_users('{"Field":"UserState","Value":"Active","Operator":"equals"}') is False
    with pytest.raises(PartnerCenterFault) as other_field:
        directory.wants_deleted_users('{"Field":"DisplayName","Value":"Ada","Operator":"starts_with"}')
    assert other_field.value.code == directory.INVALID_PROPERTY
    with pytest.raises(PartnerCenterFault):
        directory.wants_deleted_users("not json")


def test_domains_are_checked_like_create_customer_reads_them():
    assert directory.normalize_domain(" TailspinToys ") == "tailspintoys.onmicrosoft.com"
    assert directory.normalize_domain("tailspintoys.onmicrosoft.com") == "tailspintoys.onmicrosoft.com"


def test_gdap_approval_link_live_and_sandbox():
    assert gdap_approval_link("r-1") == (
        "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/r-1"
    )
    assert gdap_approval_link("r-1", "https://127.0.0.1:8443/_sandbox/partner-center/") == (
        "https://127.0.0.1:8443/_sandbox/partner-center/AdminPortal/Home/partners/invitation/granularAdminRelationships/r-1"
    )
