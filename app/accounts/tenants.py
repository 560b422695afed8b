"""A customer's existing Microsoft tenant, linked through a GDAP relationship (NCE_RULES 3.3, facts 3.5).

The CSP (or the customer's reseller) asks Microsoft Graph for a delegated-admin relationship with the roles
Cloudseat needs, locks it for approval, and gives the customer's Global Administrator the approval link. Ordering
for the tenant waits until Graph reports the relationship active.
"""

from __future__ import annotations

import uuid

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.audit import service as audit
from app.config import Settings
from app.errors import Conflict, Forbidden
from app.partner_center.client import gdap_approval_link
from app.partner_center.errors import BusinessRuleError

# Entra built-in roles (template ids) Cloudseat needs to manage the customer's users and licences
ROLES = (
    "fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a",  # License Administrator
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",  # Directory Readers
)
REQUESTS = uuid.UUID("0f4a7c52-3f7e-4b8e-a6f1-6f2f7e0b9c11")


def approval_link(settings: Settings, relationship_id: str) -> str:
    """Where the customer's admin approves: Microsoft's admin center, or the sandbox's page."""
    from app.partner_center.sandbox.app import sandbox_url

    return gdap_approval_link(relationship_id, sandbox_url(settings) if settings.is_sandbox else None)


async def _linked_customer(actor: Principal, account_id: uuid.UUID) -> dict:
    if actor.role == "customer_admin":
        raise Forbidden("The CSP or the customer's reseller asks for delegated admin access.")
    account = await accounts.get_account(actor, account_id)
    if account["kind"] != "customer" or account["tenant_origin"] != "existing" or not account["tenant_id"]:
        raise Conflict("not_an_existing_tenant", "Only a customer linked to an existing tenant needs GDAP.")
    return account


async def request_gdap(actor: Principal, settings: Settings, account_id: uuid.UUID) -> str:
    """Create the relationship and lock it for the customer's approval; returns the approval link. Asking again
    while one is pending or active returns that one's link."""
    from app.partner_center.connection import job_client

    account = await _linked_customer(actor, account_id)
    if account["gdap_relationship_id"] and account["gdap_status"] in ("approvalPending", "active", "activating"):
        return approval_link(settings, account["gdap_relationship_id"])
    attempt = await db.fetchval(
        "SELECT count(*) FROM events WHERE subject_type = 'account' AND subject_id = $1 AND action = 'gdap_requested'",
        str(account_id),
    )
    key = f"{account_id}:{attempt}"  # the same request if this one is retried, a new one after a refusal
    client = await job_client(settings)
    try:
        relationship = await client.create_gdap_relationship(
            {
                "displayName": f"Cloudseat {account['name']}"[:50],
                "duration": "P730D",
                "customer": {"tenantId": str(account["tenant_id"])},
                "accessDetails": {"unifiedRoles": [{"roleDefinitionId": role} for role in ROLES]},
            },
            request_id=str(uuid.uuid5(REQUESTS, f"create:{key}")),
        )
        await client.request_gdap_approval(str(relationship.id), request_id=str(uuid.uuid5(REQUESTS, f"lock:{key}")))
    except BusinessRuleError as refused:
        raise Conflict("gdap_refused", f"Microsoft refused the relationship: {refused.description}") from None
    finally:
        await client.aclose()
    await _store(actor, account_id, str(relationship.id), "approvalPending", "gdap_requested")
    return approval_link(settings, str(relationship.id))


async def refresh_gdap(actor: Principal, settings: Settings, account_id: uuid.UUID) -> str:
    """Graph's current status of the customer's relationship (active once its admin approved)."""
    from app.partner_center.connection import job_client

    account = await _linked_customer(actor, account_id)
    if not account["gdap_relationship_id"]:
        return "none"
    client = await job_client(settings)
    try:
        relationship = await client.get_gdap_relationship(account["gdap_relationship_id"])
    finally:
        await client.aclose()
    status = relationship.status or "unknown"
    if status != account["gdap_status"]:
        await _store(actor, account_id, account["gdap_relationship_id"], status, "gdap_status")
    return status


async def _store(actor: Principal, account_id: uuid.UUID, relationship_id: str, status: str, action: str) -> None:
    async with db.transaction():
        await db.execute(
            "UPDATE accounts SET gdap_relationship_id = $2, gdap_status = $3, updated_at = $4 WHERE id = $1",
            account_id,
            relationship_id,
            status,
            clock.now(),
        )
        await audit.record(
            actor, "account", account_id, action, after={"relationship_id": relationship_id, "status": status}
        )
