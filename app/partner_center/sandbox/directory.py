"""Customer directories and delegated admin: users, licences, subscribed SKUs (facts 8), GDAP relationships and the
tenants that exist at Microsoft before they are anyone's customer (facts 3.5), and the domain check (facts 3.1).

A partner reaches a customer's directory only through GDAP: every users/licences call for a customer without an
active relationship answers 403 900308. Licences are counted per Entra SKU (the catalog's provisioningId), which a
trial shares with its paid SKU, so both count towards the same subscribed SKU.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app import clock, db
from app.partner_center.sandbox import catalog, pricing, service, shapes
from app.partner_center.sandbox.errors import GDAP_REQUIRED, NO_LICENSES_LEFT, PartnerCenterFault, bad_request

# Codes Microsoft documents (error-codes.md): 3000 invalid property, 60002 user not found.
INVALID_PROPERTY = 3000
USER_NOT_FOUND = 60002
# The sandbox's own codes, next to 60012, where Microsoft publishes none for these refusals.
UNKNOWN_SKU = 60013
UPN_TAKEN = 60014
USAGE_LOCATION_REQUIRED = 60015

LICENSE_GROUP = "group1"  # LicenseGroupId.Group1, serialised lower-case like every enum (facts 1)
LICENSED_KINDS = ("license", "trial")  # software subscriptions and perpetual licences carry no Entra licence


def _data(row: dict) -> dict:
    value = row["data"]
    return json.loads(value) if isinstance(value, str) else dict(value)


# --- Tenants that exist at Microsoft but are not our customers yet ----------------------------------------


@dataclass(frozen=True)
class ExistingTenant:
    domain: str
    company_name: str
    country: str

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_DNS, self.domain)


EXISTING_TENANTS = (
    ExistingTenant("tailspintoys.onmicrosoft.com", "Tailspin Toys", "US"),
    ExistingTenant("wingtiptoys.onmicrosoft.com", "Wingtip Toys", "GB"),
    ExistingTenant("litware.onmicrosoft.com", "Litware", "DE"),
)


async def ensure_existing_tenants() -> None:
    """Seed the existing tenants (relationship 'none', no GDAP): hidden from the customer list and unusable until
    their admin approves a GDAP relationship. Idempotent: a tenant (or a customer with its domain) is left alone."""
    for tenant in EXISTING_TENANTS:
        billing = {
            "companyName": tenant.company_name,
            "defaultAddress": {"country": tenant.country},
            "id": str(uuid.uuid5(tenant.id, "billing")),
            "attributes": {"objectType": "CustomerBillingProfile"},
        }
        await db.execute(
            "INSERT INTO pcs_customers (id, domain, company_name, country, currency, relationship, gdap, data, "
            "created_at) VALUES ($1, $2, $3, $4, $5, 'none', false, $6, $7) ON CONFLICT DO NOTHING",
            tenant.id,
            tenant.domain,
            tenant.company_name,
            tenant.country,
            pricing.currency_of(pricing.market_for(tenant.country)),
            json.dumps({"billingProfile": billing}),
            clock.now(),
        )


def normalize_domain(domain: str) -> str:
    """As create-customer does: a bare prefix means <prefix>.onmicrosoft.com."""
    name = domain.strip().lower()
    return name if name.endswith(".onmicrosoft.com") else f"{name}.onmicrosoft.com"


async def domain_exists(domain: str) -> bool:
    """Partner Center's domain check: taken by a customer or by any tenant that exists at Microsoft."""
    return bool(await db.fetchval("SELECT 1 FROM pcs_customers WHERE lower(domain) = $1", normalize_domain(domain)))


# --- Access: only our customers, only with GDAP -------------------------------------------------------------


async def _directory(customer_id: str, *, lock: bool = False) -> dict:
    """The customer whose directory a call touches: 404 unless it is our customer, 403 900308 without GDAP.
    `lock` holds the customer row to the end of the transaction, so licence assignments for one tenant run one
    at a time and two of them cannot both take the last free seat."""
    customer = await service._customer(customer_id)
    await expire_relationships(clock.now(), customer["id"])
    gdap = await db.fetchval(
        "SELECT gdap FROM pcs_customers WHERE id = $1" + (" FOR UPDATE" if lock else ""), customer["id"]
    )
    if not gdap:
        raise PartnerCenterFault(403, *GDAP_REQUIRED)
    return customer


# --- Users (facts 8.1) ------------------------------------------------------------------------------------

COUNTRY = re.compile(r"[A-Za-z]{2}")
UPN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def user_json(row: dict) -> dict:
    data = _data(row)
    return {
        "id": str(row["id"]),
        "usageLocation": data.get("usageLocation"),
        "userPrincipalName": row["user_principal_name"],
        "firstName": data.get("firstName"),
        "lastName": data.get("lastName"),
        "displayName": data.get("displayName"),
        "immutableId": data.get("immutableId"),
        "lastDirectorySyncTime": None,
        "userDomainType": "none",
        "state": "inactive" if row["deleted_at"] else "active",
        "softDeletionTime": shapes.iso(row["deleted_at"]),
        "links": {"self": shapes.link(f"/customers/{row['customer_id']}/users/{row['id']}")},
        "attributes": {"objectType": "CustomerUser"},
    }


def _usage_location(value: object) -> str | None:
    if value in (None, ""):
        return None
    if not COUNTRY.fullmatch(str(value)):
        raise bad_request(f"The usageLocation {value} is not a two-letter country code.", INVALID_PROPERTY)
    return str(value).upper()


async def create_user(customer_id: str, body: dict) -> dict:
    customer = await _directory(customer_id)
    upn = str(service._first(body, "userPrincipalName", default="") or "").strip()
    password = service._first(service._first(body, "passwordProfile", default={}) or {}, "password")
    for name, value in (
        ("userPrincipalName", upn),
        ("displayName", service._first(body, "displayName")),
        ("passwordProfile.password", password),
    ):
        if not value:
            raise bad_request(f"The field {name} is required.", INVALID_PROPERTY)
    if not UPN.fullmatch(upn):
        raise bad_request(f"The userPrincipalName {upn} is not a valid user name.", INVALID_PROPERTY)
    if upn.rsplit("@", 1)[1].lower() != customer["domain"].lower():
        raise bad_request(
            f"The userPrincipalName {upn} must be in one of the customer's domains: {customer['domain']}.",
            INVALID_PROPERTY,
        )
    data = {
        "usageLocation": _usage_location(service._first(body, "usageLocation")),
        "firstName": service._first(body, "firstName"),
        "lastName": service._first(body, "lastName"),
        "displayName": service._first(body, "displayName"),
        "immutableId": service._first(body, "immutableId"),
    }
    taken = bad_request(
        f"Another object with the same value for property userPrincipalName already exists: {upn}.", UPN_TAKEN
    )
    # UPNs are unique across all tenants, deleted users included (Entra keeps them 30 days)
    if await db.fetchval("SELECT 1 FROM pcs_users WHERE lower(user_principal_name) = lower($1)", upn):
        raise taken
    try:
        rows = await db.fetch(
            "INSERT INTO pcs_users (id, customer_id, user_principal_name, data, created_at) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING *",
            uuid.uuid4(),
            customer["id"],
            upn,
            json.dumps(data),
            clock.now(),
        )
    except asyncpg.UniqueViolationError:
        raise taken from None  # created by a parallel call between the check and the insert
    force_change = service._first(service._first(body, "passwordProfile") or {}, "forceChangePassword", default=True)
    # the password is echoed once, in the creation answer, and never stored
    return {**user_json(rows[0]), "passwordProfile": {"forceChangePassword": force_change, "password": password}}


def wants_deleted_users(filter_text: str | None) -> bool:
    """`filter={"Field":"UserState","Value":"Inactive","Operator":"equals"}` lists deleted users (Microsoft's
    "get deleted users"); no filter lists active ones."""
    if not filter_text:
        return False
    try:
        parsed = json.loads(filter_text)
    except ValueError:
        raise bad_request("The filter is not valid JSON.", INVALID_PROPERTY) from None
    if not isinstance(parsed, dict) or str(service._first(parsed, "Field", default="")).lower() != "userstate":
        raise bad_request("Users can only be filtered by UserState.", INVALID_PROPERTY)
    return str(service._first(parsed, "Value", default="")).lower() == "inactive"


async def list_users(
    customer_id: str, size: int, after: str | None, deleted: bool = False
) -> tuple[list[dict], str | None]:
    customer = await _directory(customer_id)
    rows = await db.fetch(
        "SELECT * FROM pcs_users WHERE customer_id = $1 AND (deleted_at IS NOT NULL) = $2 "
        "AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4",
        customer["id"],
        deleted,
        service._uuid(after) if after else None,
        size + 1,
    )
    more = len(rows) > size
    rows = rows[:size]
    return [user_json(r) for r in rows], str(rows[-1]["id"]) if more and rows else None


async def _user(customer_uuid: uuid.UUID, user_id: str, *, lock: bool = False) -> dict:
    key = service._uuid(user_id)
    rows = (
        await db.fetch(
            "SELECT * FROM pcs_users WHERE id = $1 AND customer_id = $2 AND deleted_at IS NULL"
            + (" FOR UPDATE" if lock else ""),
            key,
            customer_uuid,
        )
        if key
        else []
    )
    if not rows:
        raise PartnerCenterFault(404, USER_NOT_FOUND, "User object Id is not found.")
    return rows[0]


async def get_user(customer_id: str, user_id: str) -> dict:
    customer = await _directory(customer_id)
    return user_json(await _user(customer["id"], user_id))


async def update_user(customer_id: str, user_id: str, body: dict) -> dict:
    """PATCH: display name, first and last name, usage location; other fields are left as they are."""
    customer = await _directory(customer_id)
    user = await _user(customer["id"], user_id, lock=True)
    data = _data(user)
    for name in ("displayName", "firstName", "lastName"):
        value = service._first(body, name)
        if value is not None:
            data[name] = str(value)
    if any(k.lower() == "usagelocation" for k in body):
        data["usageLocation"] = _usage_location(service._first(body, "usageLocation"))
    if not data.get("displayName"):
        raise bad_request("The field displayName cannot be empty.", INVALID_PROPERTY)
    rows = await db.fetch("UPDATE pcs_users SET data = $2 WHERE id = $1 RETURNING *", user["id"], json.dumps(data))
    return user_json(rows[0])


async def delete_user(customer_id: str, user_id: str) -> None:
    """A soft delete, as Entra does: the user turns inactive, keeps its UPN, and its licences are freed."""
    customer = await _directory(customer_id)
    user = await _user(customer["id"], user_id, lock=True)
    await db.execute("DELETE FROM pcs_user_licenses WHERE user_id = $1", user["id"])
    await db.execute("UPDATE pcs_users SET deleted_at = $2 WHERE id = $1", user["id"], clock.now())


# --- Subscribed SKUs (facts 8.2) -----------------------------------------------------------------------------

# Which units a subscription's seats are: expired subscriptions are in their grace period, users keep access
UNIT_KIND = {"active": "active", "pending": "active", "suspended": "suspended", "expired": "warning"}


@dataclass
class SeatCounts:
    active: int = 0
    suspended: int = 0
    warning: int = 0

    @property
    def total(self) -> int:
        return self.active + self.suspended + self.warning

    def available(self, consumed: int) -> int:
        """Seats that can still be assigned: only active ones, never below zero."""
        return max(self.active - consumed, 0)

    @property
    def capability_status(self) -> str:
        if self.active:
            return "Enabled"
        if self.warning:
            return "Warning"
        return "Suspended" if self.suspended else "Deleted"


@dataclass(frozen=True)
class EntraSku:
    id: str
    name: str
    part_number: str
    offers: tuple[str, ...] = ()  # "ProductId:SkuId" of every offer that grants it


def _part_number(offer: catalog.Offer) -> str:
    """Microsoft's string id where the catalog knows it, else one made from the title the same way."""
    return offer.sku_part_number or re.sub(r"[^A-Za-z0-9]+", "_", offer.sku_title).strip("_").upper()


def _entra_skus() -> dict[str, EntraSku]:
    """Each Entra SKU of the catalog, named after its first paid offer (trials share the paid SKU's id)."""
    by_id: dict[str, list[catalog.Offer]] = {}
    for offer in catalog.OFFERS:
        if offer.kind in LICENSED_KINDS:
            by_id.setdefault(offer.provisioning_id, []).append(offer)
    skus = {}
    for sku_id, offers in by_id.items():
        named = next((o for o in offers if not o.is_trial), offers[0])
        skus[sku_id] = EntraSku(sku_id, named.product_title, _part_number(named), tuple(o.key for o in offers))
    return skus


ENTRA_SKUS = _entra_skus()
_SKU_OF_OFFER = {key: sku.id for sku in ENTRA_SKUS.values() for key in sku.offers}


def seat_counts(subscriptions: Iterable[dict]) -> dict[str, SeatCounts]:
    """Units per Entra SKU from subscription rows (product_id, sku_id, status, quantity, is_legacy): legacy
    subscriptions are not counted, nor disabled, deleted or cancelled ones."""
    counts: dict[str, SeatCounts] = {}
    for sub in subscriptions:
        sku = _SKU_OF_OFFER.get(f"{sub['product_id']}:{catalog.normalize_sku_id(sub['sku_id'])}")
        kind = UNIT_KIND.get(sub["status"])
        if sku is None or kind is None or sub["is_legacy"]:
            continue
        seats = counts.setdefault(sku, SeatCounts())
        setattr(seats, kind, getattr(seats, kind) + sub["quantity"])
    return counts


def product_sku(sku_id: str) -> dict:
    sku = ENTRA_SKUS[sku_id]
    return {
        "id": sku.id,
        "name": sku.name,
        "skuPartNumber": sku.part_number,
        "targetType": "User",
        "licenseGroupId": LICENSE_GROUP,
    }


async def _tenant_seats(customer_uuid: uuid.UUID) -> dict[str, SeatCounts]:
    rows = await db.fetch(
        "SELECT product_id, sku_id, status, quantity, is_legacy FROM pcs_subscriptions WHERE customer_id = $1",
        customer_uuid,
    )
    return seat_counts(rows)


async def _consumed(customer_uuid: uuid.UUID) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT sku_id, count(*) AS n FROM pcs_user_licenses WHERE customer_id = $1 GROUP BY sku_id", customer_uuid
    )
    return {str(r["sku_id"]): r["n"] for r in rows}


async def subscribed_skus(customer_id: str) -> list[dict]:
    customer = await _directory(customer_id)
    seats = await _tenant_seats(customer["id"])
    consumed = await _consumed(customer["id"])
    items = []
    for sku_id in sorted(set(seats) | set(consumed), key=lambda s: ENTRA_SKUS[s].name):
        counts, used = seats.get(sku_id, SeatCounts()), consumed.get(sku_id, 0)
        items.append(
            {
                "availableUnits": counts.available(used),
                "activeUnits": counts.active,
                "consumedUnits": used,
                "suspendedUnits": counts.suspended,
                "totalUnits": counts.total,
                "warningUnits": counts.warning,
                "productSku": product_sku(sku_id),
                "servicePlans": [],
                "capabilityStatus": counts.capability_status,
                "attributes": {"objectType": "SubscribedSku"},
            }
        )
    return items


# --- Licence assignment (facts 8.2) ----------------------------------------------------------------------------


async def update_licenses(customer_id: str, user_id: str, body: dict) -> dict:
    """Remove, then assign, in one transaction: a refusal leaves the user's licences as they were. Assigning a
    licence the user has is a no-op and removing one it lacks too, so a retried call changes nothing."""
    customer = await _directory(customer_id, lock=True)
    user = await _user(customer["id"], user_id)
    assign = [
        (str(service._first(a, "skuId", default="")), service._first(a, "excludedPlans") or [])
        for a in service._first(body, "licensesToAssign", default=[]) or []
    ]
    remove = [str(s) for s in service._first(body, "licensesToRemove", default=[]) or []]
    if assign and not _data(user).get("usageLocation"):
        raise bad_request(
            "License assignment cannot be done for user with invalid usage location.", USAGE_LOCATION_REQUIRED
        )
    removable = [key for key in map(service._uuid, remove) if key]
    await db.execute(
        "DELETE FROM pcs_user_licenses WHERE user_id = $1 AND sku_id = ANY($2::uuid[])", user["id"], removable
    )
    seats = await _tenant_seats(customer["id"])
    for sku, excluded in assign:
        key = service._uuid(sku)
        if key is None or str(key) not in seats:
            raise bad_request(f"The customer has no subscription with the SKU {sku}.", UNKNOWN_SKU)
        if await db.fetchval("SELECT 1 FROM pcs_user_licenses WHERE user_id = $1 AND sku_id = $2", user["id"], key):
            continue
        used = (await _consumed(customer["id"])).get(str(key), 0)
        if seats[str(key)].available(used) < 1:
            raise PartnerCenterFault(
                400,
                *NO_LICENSES_LEFT,
                data=[
                    f"LicenseQuotaExceededException : Subscription with Account {customer['id']} and SKU {key} "
                    "does not have any available licenses left."
                ],
            )
        await db.execute(
            "INSERT INTO pcs_user_licenses (user_id, customer_id, sku_id, excluded_plans, assigned_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            user["id"],
            customer["id"],
            key,
            json.dumps(list(excluded)),
            clock.now(),
        )
    return {
        "licensesToAssign": [{"skuId": sku, "excludedPlans": excluded or None} for sku, excluded in assign],
        "licensesToRemove": remove,
        "licenseWarnings": [],
        "attributes": {"objectType": "LicenseUpdate"},
    }


async def user_licenses(customer_id: str, user_id: str) -> list[dict]:
    customer = await _directory(customer_id)
    user = await _user(customer["id"], user_id)
    rows = await db.fetch(
        "SELECT sku_id FROM pcs_user_licenses WHERE user_id = $1 ORDER BY assigned_at, sku_id", user["id"]
    )
    return [
        {"productSku": product_sku(str(r["sku_id"])), "servicePlans": [], "attributes": {"objectType": "License"}}
        for r in rows
    ]


# --- GDAP relationships: Microsoft Graph's delegatedAdminRelationships (facts 3.5) --------------------------------

GDAP_MAX_DAYS = 730  # Graph: a relationship lasts between P1D and P2Y
DURATION = re.compile(r"P(\d+)([DY])")
# Moves the partner asks for through .../requests; "approve" is the customer's, on the approval page
RELATIONSHIP_MOVES = {
    ("created", "lockForApproval"): "approvalPending",
    ("approvalPending", "approve"): "active",
    ("active", "terminate"): "terminated",
}
PARTNER_ACTIONS = ("lockForApproval", "terminate")


class GraphFault(Exception):
    """An error in Microsoft Graph's shape: `{"error": {"code": ..., "message": ...}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


# Microsoft Entra built-in roles partners ask for (role template ids), named on the approval page
ROLE_NAMES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a": "License Administrator",
    "9360feb5-f418-4baa-8175-e2a00bac4301": "Directory Writers",
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "f023fd81-a637-4b56-95fd-791ac0226033": "Service Support Administrator",
    "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
}


def role_name(role_id: str) -> str:
    return ROLE_NAMES.get(role_id.lower(), f"Role {role_id}")


def duration_days(text: object) -> int | None:
    """Days of an ISO 8601 duration in days or years ("P730D", "P2Y"); None for any other form."""
    match = DURATION.fullmatch(str(text or ""))
    if not match:
        return None
    return int(match[1]) * (365 if match[2] == "Y" else 1)


def next_relationship_status(status: str, action: str) -> str | None:
    return RELATIONSHIP_MOVES.get((status, action))


def relationship_json(row: dict) -> dict:
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
        **_data(row),
        "id": row["id"],
        "status": row["status"],
    }


async def expire_relationships(now: datetime, customer_uuid: uuid.UUID | None = None) -> None:
    """Active relationships past their end expire; a customer left with no active one loses GDAP. Done when a
    relationship or a directory is read, so moving the clock is enough."""
    await db.execute(
        "WITH expired AS (UPDATE pcs_gdap_relationships SET status = 'expired' WHERE status = 'active' "
        "AND ends_at <= $1 AND ($2::uuid IS NULL OR customer_id = $2) RETURNING customer_id) "
        "UPDATE pcs_customers c SET gdap = false WHERE c.id IN (SELECT customer_id FROM expired) AND NOT EXISTS "
        "(SELECT 1 FROM pcs_gdap_relationships r WHERE r.customer_id = c.id AND r.status = 'active' "
        "AND r.ends_at > $1)",
        now,
        customer_uuid,
    )


async def create_relationship(body: dict) -> dict:
    display_name = str(body.get("displayName") or "").strip()
    if not display_name or len(display_name) > 50:
        raise GraphFault(400, "badRequest", "displayName is required and at most 50 characters long.")
    days = duration_days(body.get("duration"))
    if days is None or not 1 <= days <= GDAP_MAX_DAYS:
        raise GraphFault(400, "badRequest", "duration must be an ISO 8601 duration between P1D and P730D.")
    tenant_id = service._uuid((body.get("customer") or {}).get("tenantId"))
    tenants = await db.fetch("SELECT id, company_name FROM pcs_customers WHERE id = $1", tenant_id) if tenant_id else []
    if not tenants:
        raise GraphFault(400, "badRequest", "customer.tenantId must name an existing customer tenant.")
    roles = ((body.get("accessDetails") or {}).get("unifiedRoles")) or []
    role_ids = [service._uuid(r.get("roleDefinitionId")) if isinstance(r, dict) else None for r in roles]
    if not role_ids or None in role_ids:
        raise GraphFault(400, "badRequest", "accessDetails.unifiedRoles needs at least one roleDefinitionId.")
    now = clock.now()
    relationship_id = f"{uuid.uuid4()}-{uuid.uuid4()}"
    data = {
        "displayName": display_name,
        "duration": f"P{days}D",
        "autoExtendDuration": body.get("autoExtendDuration") or "PT0S",
        "customer": {"tenantId": str(tenant_id), "displayName": tenants[0]["company_name"]},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": str(r)} for r in role_ids]},
        "createdDateTime": shapes.iso(now),
        "lastModifiedDateTime": shapes.iso(now),
        "activatedDateTime": None,
        "endDateTime": None,
    }
    rows = await db.fetch(
        "INSERT INTO pcs_gdap_relationships (id, customer_id, status, data, created_at) "
        "VALUES ($1, $2, 'created', $3, $4) RETURNING *",
        relationship_id,
        tenant_id,
        json.dumps(data),
        now,
    )
    return relationship_json(rows[0])


async def _relationship(relationship_id: str, *, lock: bool = False) -> dict:
    await expire_relationships(clock.now())
    rows = await db.fetch(
        "SELECT * FROM pcs_gdap_relationships WHERE id = $1" + (" FOR UPDATE" if lock else ""), relationship_id
    )
    if not rows:
        raise GraphFault(404, "notFound", f"The delegated admin relationship {relationship_id} was not found.")
    return rows[0]


async def get_relationship(relationship_id: str) -> dict:
    return relationship_json(await _relationship(relationship_id))


async def list_relationships() -> list[dict]:
    await expire_relationships(clock.now())
    rows = await db.fetch("SELECT * FROM pcs_gdap_relationships ORDER BY created_at, id")
    return [relationship_json(r) for r in rows]


async def _move(row: dict, action: str, now: datetime, **changes: object) -> dict:
    status = next_relationship_status(row["status"], action)
    if status is None:
        raise GraphFault(400, "badRequest", f"A relationship in status {row['status']} cannot be asked to {action}.")
    data = {**_data(row), **changes, "lastModifiedDateTime": shapes.iso(now)}
    ends_at = datetime.fromisoformat(str(data["endDateTime"])) if data.get("endDateTime") else None
    rows = await db.fetch(
        "UPDATE pcs_gdap_relationships SET status = $2, data = $3, ends_at = $4 WHERE id = $1 RETURNING *",
        row["id"],
        status,
        json.dumps(data),
        ends_at,
    )
    return rows[0]


async def create_request(relationship_id: str, body: dict) -> dict:
    """The partner's requests: lockForApproval (the customer's admin can then approve) and terminate (GDAP ends;
    the customer keeps it only through another active relationship)."""
    action = str(body.get("action") or "")
    if action not in PARTNER_ACTIONS:
        raise GraphFault(400, "badRequest", f"The action {action!r} is not one a partner can request.")
    row = await _relationship(relationship_id, lock=True)
    now = clock.now()
    if action == "terminate":
        row = await _move(row, action, now, endDateTime=shapes.iso(now))
        await db.execute(
            "UPDATE pcs_customers SET gdap = EXISTS (SELECT 1 FROM pcs_gdap_relationships WHERE customer_id = $1 "
            "AND status = 'active' AND ends_at > $2) WHERE id = $1",
            row["customer_id"],
            now,
        )
    else:
        await _move(row, action, now)
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest",
        "id": str(uuid.uuid4()),
        "action": action,
        "status": "succeeded",  # the sandbox applies a request at once
        "createdDateTime": shapes.iso(now),
        "lastModifiedDateTime": shapes.iso(now),
    }


async def approval(relationship_id: str) -> tuple[dict, str]:
    """What the approval page shows: the relationship and the domain of the tenant whose admin must approve."""
    row = await _relationship(relationship_id)
    domain = await db.fetchval("SELECT domain FROM pcs_customers WHERE id = $1", row["customer_id"])
    return relationship_json(row), str(domain)


async def approve(relationship_id: str, admin_user_name: str) -> dict:
    """The customer's admin approves: the relationship turns active for its duration and the tenant becomes our
    customer (relationship 'reseller') with GDAP. Only an admin of that tenant can approve."""
    async with db.transaction():
        row = await _relationship(relationship_id, lock=True)
        domain = str(await db.fetchval("SELECT domain FROM pcs_customers WHERE id = $1", row["customer_id"]))
        if admin_user_name.strip().lower().rsplit("@", 1)[-1] != domain.lower():
            raise GraphFault(403, "forbidden", f"Only an administrator of {domain} can approve this relationship.")
        now = clock.now()
        days = duration_days(_data(row)["duration"]) or GDAP_MAX_DAYS
        row = await _move(
            row, "approve", now, activatedDateTime=shapes.iso(now), endDateTime=shapes.iso(now + timedelta(days=days))
        )
        await db.execute(
            "UPDATE pcs_customers SET relationship = 'reseller', gdap = true WHERE id = $1", row["customer_id"]
        )
    return relationship_json(row)
