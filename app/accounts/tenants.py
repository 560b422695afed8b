"""A customer's Microsoft tenant: created at Partner Center, or an existing one linked through a GDAP
relationship (NCE_RULES 3.3, facts 3.5), and the segment qualifications Microsoft vets for it (NCE_RULES 3.4).

For an existing tenant the CSP (or the customer's reseller) asks Microsoft Graph for a delegated-admin
relationship with the roles Cloudseat needs, locks it for approval, and gives the customer's Global Administrator
the approval link. Ordering for the tenant waits until Graph reports the relationship active.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from piccolo.columns import Column

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.accounts.tables import Account
from app.audit import service as audit
from app.audit.tables import Event
from app.config import Settings
from app.errors import Conflict, Forbidden, Invalid
from app.jobs import queue
from app.partner_center.client import PartnerCenterClient, gdap_approval_link
from app.partner_center.connection import job_client
from app.partner_center.errors import BusinessRuleError
from app.partner_center.sandbox.address import sandbox_url

# Entra built-in roles (template ids) Cloudseat needs to manage the customer's users and licences
ROLES = (
    "fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a",  # License Administrator
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",  # Directory Readers
)
REQUESTS = uuid.UUID("0f4a7c52-3f7e-4b8e-a6f1-6f2f7e0b9c11")


def managed_tenant_sql(account: str = "accounts") -> str:
    """SQL: the CSP already manages the Microsoft tenant of the `account` row: an account on that tenant was
    created by the CSP (or imported from its Partner Center), or has an active GDAP relationship to it. A tenant
    merely linked by a customer, with no relationship approved yet, is new to the CSP (NCE_RULES 3)."""
    return (
        f"({account}.tenant_id IS NOT NULL AND EXISTS (SELECT 1 FROM accounts managed "
        f"WHERE managed.tenant_id = {account}.tenant_id "
        "AND (managed.tenant_origin IS DISTINCT FROM 'existing' OR managed.gdap_status = 'active')))"
    )


async def managed_by_csp(account_id: uuid.UUID) -> bool:
    """Whether the CSP already manages the account's tenant (so it needs no GDAP relationship of its own)."""
    return bool(await db.fetchval(f"SELECT {managed_tenant_sql()} FROM accounts WHERE id = $1", account_id))


class TenantRefused(Exception):
    """Partner Center would not create the customer's tenant (a domain already taken, say)."""


async def ensure_tenant(client: PartnerCenterClient, customer_id: uuid.UUID) -> str:
    """The customer's Microsoft tenant, created at Partner Center the first time it is needed (its first order,
    a qualification request); the same request if asked again."""
    account = (await Account.select().where(Account.id == customer_id).run())[0]
    if account["tenant_id"]:
        return str(account["tenant_id"])
    reseller = None
    if account["parent_id"]:
        reseller = (await Account.select(Account.mpn_id).where(Account.id == account["parent_id"]).run())[0]
    body = _customer_body(account, reseller["mpn_id"] if reseller else None)
    try:
        created = await client.create_customer(body, request_id=str(uuid.uuid5(REQUESTS, f"tenant:{customer_id}")))
    except BusinessRuleError as exc:
        raise TenantRefused(exc.description) from None
    await db.execute(
        "UPDATE accounts SET tenant_id = $2, tenant_domain = coalesce(tenant_domain, $3), tenant_origin = 'created', "
        "updated_at = $4 WHERE id = $1",
        customer_id,
        uuid.UUID(str(created.id)),
        created.company_profile.domain if created.company_profile else None,
        clock.now(),
    )
    await audit.record(None, "account", customer_id, "tenant_created", after={"tenant_id": str(created.id)})
    return str(created.id)


def _customer_body(account: dict, reseller_mpn: str | None) -> dict:
    name = account["name"].split()
    domain = account["tenant_domain"] or _domain_from(account["name"], account["id"])
    body: dict[str, Any] = {
        "companyProfile": {"domain": domain},
        "billingProfile": {
            "email": account["email"],
            "culture": "en-US",
            "language": "en",
            "companyName": account["name"],
            "defaultAddress": {
                "firstName": name[0],
                "lastName": name[-1] if len(name) > 1 else name[0],
                "addressLine1": account["address_line1"],
                "addressLine2": account["address_line2"],
                "city": account["city"],
                "state": account["state"],
                "postalCode": account["postal_code"],
                "country": account["country"],
                "phoneNumber": account["phone"],
            },
        },
    }
    if reseller_mpn:
        body["associatedPartnerId"] = reseller_mpn
    return body


def _domain_from(name: str, account_id: uuid.UUID) -> str:
    prefix = "".join(c for c in name.lower() if c.isalnum())[:18] or "tenant"
    return f"{prefix}{account_id.hex[:8]}.onmicrosoft.com"


def approval_link(settings: Settings, relationship_id: str) -> str:
    """Where the customer's admin approves: Microsoft's admin center, or the sandbox's page."""
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
    account = await _linked_customer(actor, account_id)
    if account["gdap_relationship_id"] and account["gdap_status"] in ("approvalPending", "active", "activating"):
        return approval_link(settings, account["gdap_relationship_id"])
    attempt = await (
        Event.count()
        .where(
            (Event.subject_type == "account")
            & (Event.subject_id == str(account_id))
            & (Event.action == "gdap_requested")
        )
        .run()
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
    return await _refresh_gdap(actor, settings, await _linked_customer(actor, account_id))


async def _refresh_gdap(actor: Principal | None, settings: Settings, account: dict) -> str:
    account_id = account["id"]
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


async def _store(
    actor: Principal | None, account_id: uuid.UUID, relationship_id: str, status: str, action: str
) -> None:
    async with db.transaction():
        await (
            Account.update(
                {
                    Account.gdap_relationship_id: relationship_id,
                    Account.gdap_status: status,
                    Account.updated_at: clock.now(),
                }
            )
            .where(Account.id == account_id)
            .run()
        )
        await audit.record(
            actor, "account", account_id, action, after={"relationship_id": relationship_id, "status": status}
        )


# --- Segment qualifications (NCE_RULES 3.4, facts 3.3) -----------------------------------------------------------

# what a partner may ask Microsoft to vet; nonprofit eligibility comes from Microsoft's nonprofit programme
QUALIFICATIONS = {"education": "Education", "government": "GovernmentCommunityCloud"}


def _qualification_body(values: dict) -> tuple[str, dict, str | None]:
    kind = str(values.get("qualification") or "")
    if kind not in QUALIFICATIONS:
        raise Invalid({"qualification": "Choose education or government."})
    body: dict = {"qualification": QUALIFICATIONS[kind]}
    code = None
    if kind == "education":
        segment = str(values.get("education_segment") or "")
        if segment not in ("K12", "HigherEducation"):
            raise Invalid({"education_segment": "Choose K-12 or higher education."})
        body |= {"educationSegment": segment, "website": str(values.get("website") or "").strip() or None}
    else:
        code = str(values.get("validation_code") or "").strip()
        if not code:
            raise Invalid({"validation_code": "Enter the validation code Microsoft gave for this customer."})
    return kind, body, code


async def request_qualification(actor: Principal, settings: Settings, account_id: uuid.UUID, values: dict) -> str:
    """Ask Microsoft to vet the customer for a segment (creating its tenant first if it has none); returns
    Microsoft's vetting status. Segment offers can be ordered once it is Approved."""
    account = await accounts.get_account(actor, account_id)
    if account["kind"] != "customer":
        raise Conflict("not_a_customer", "Only customers are qualified for a segment.")
    kind, body, code = _qualification_body(values)
    if account["qualification"] == kind:
        raise Conflict("already_qualified", f"This customer is already qualified for {kind}.")
    if account["tenant_origin"] == "existing" and account["gdap_status"] != "active":
        raise Conflict("gdap_required", "Link the customer's tenant through GDAP before asking for a qualification.")
    client = await job_client(settings)
    try:
        tenant = await ensure_tenant(client, account_id)
        vetted = await client.add_qualification(
            tenant,
            body,
            validation_code=code,
            request_id=str(uuid.uuid5(REQUESTS, f"qualification:{account_id}:{kind}")),
        )
    except (BusinessRuleError, TenantRefused) as refused:
        reason = refused.description if isinstance(refused, BusinessRuleError) else str(refused)
        raise Conflict("qualification_refused", f"Microsoft refused the qualification: {reason}") from None
    finally:
        await client.aclose()
    status = vetted.vetting_status or "InReview"
    await _store_qualification(actor, account_id, kind, status, requested=True)
    return status


async def refresh_qualification(actor: Principal, settings: Settings, account_id: uuid.UUID) -> str:
    """Microsoft's vetting of the requested qualification; Approved makes it the customer's segment."""
    return await _refresh_qualification(actor, settings, await accounts.get_account(actor, account_id))


async def _refresh_qualification(actor: Principal | None, settings: Settings, account: dict) -> str:
    account_id = account["id"]
    kind = account["qualification_request"]
    if not kind or not account["tenant_id"]:
        return "none"
    client = await job_client(settings)
    try:
        found = await client.qualifications(str(account["tenant_id"]))
    finally:
        await client.aclose()
    status = next((q.vetting_status for q in found if q.qualification == QUALIFICATIONS[kind]), None) or "unknown"
    if status != account["qualification_status"]:
        await _store_qualification(actor, account_id, kind, status)
    return status


async def _store_qualification(
    actor: Principal | None, account_id: uuid.UUID, kind: str, status: str, *, requested: bool = False
) -> None:
    async with db.transaction():
        now = clock.now()
        values: dict[Column | str, Any] = {
            Account.qualification_request: kind,
            Account.qualification_status: status,
            Account.updated_at: now,
        }
        if status == "Approved":  # Microsoft's approval makes it the customer's segment
            values[Account.qualification] = kind
        if requested:
            values[Account.qualification_requested_at] = now
        await Account.update(values).where(Account.id == account_id).run()
        await audit.record(actor, "account", account_id, "qualification", after={"segment": kind, "status": status})


# --- Waiting on Microsoft: the scheduler asks again ----------------------------------------------------------

JOB = "tenant_status"
WAITING_SQL = """
SELECT id FROM accounts WHERE kind = 'customer' AND (
    (gdap_relationship_id IS NOT NULL AND gdap_status IN ('created', 'approvalPending', 'activating', 'approved'))
    OR (qualification_request IS NOT NULL AND qualification_status = 'InReview'))
"""


async def due(now: datetime) -> int:
    """Every hour, for each customer waiting on a GDAP approval or a qualification's vetting, queue a look at
    Microsoft's answer (one per customer and hour, whichever processes tick)."""
    waiting = await db.fetch(WAITING_SQL)
    await queue.enqueue_many(JOB, [({"account_id": str(r["id"])}, f"{JOB}:{r['id']}:{now:%Y%m%d%H}") for r in waiting])
    return len(waiting)


async def run_job(payload: dict, settings: Settings) -> None:
    account = await Account.select().where(Account.id == uuid.UUID(payload["account_id"])).first().run()
    if account is None:
        return
    await _refresh_gdap(None, settings, account)
    await _refresh_qualification(None, settings, account)


HANDLERS = {JOB: run_job}
