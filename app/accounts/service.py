"""Account use cases: resellers, customers, their users and MCA acceptances. One transaction each."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from piccolo.columns.combination import Combinable, Or, WhereRaw

from app import clock, db
from app.accounts import rules
from app.accounts.rules import AccountKind, AccountRef, Principal
from app.accounts.tables import Account, McaAcceptance, User
from app.audit import service as audit
from app.auth import service as auth
from app.auth.rules import password_error
from app.auth.tables import Session
from app.config import Settings
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.mail import service as mail
from app.partner_center.connection import app_only_client

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = rules.ACCOUNT_FIELDS
EDITABLE_FIELDS = ("name", "email", "phone", "address_line1", "address_line2", "city", "state", "postal_code")


def ref(account: dict) -> AccountRef:
    return AccountRef(id=account["id"], kind=account["kind"], parent_id=account["parent_id"])


async def get_account(viewer: Principal, account_id: uuid.UUID, *, for_update: bool = False) -> dict:
    query = Account.select().where(Account.id == account_id)
    if for_update:
        query = query.lock_rows("NO KEY UPDATE")
    account = await query.first().run()
    if account is None or not rules.can_see(viewer, ref(account)):
        raise NotFound("No such account.")
    return account


def _scope_clause(viewer: Principal) -> Combinable | None:
    """`rules.can_see` as a Piccolo WHERE clause over the accounts table (None: no restriction)."""
    scope = rules.scope_of(viewer)
    if scope.everything:
        return None
    if scope.account_id is None:
        return WhereRaw("FALSE")
    if scope.with_customers:
        return Or(Account.id == scope.account_id, Account.parent_id == scope.account_id)
    return Account.id == scope.account_id


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_accounts(
    viewer: Principal,
    *,
    kind: str | None = None,
    q: str = "",
    parent_id: uuid.UUID | None = None,
    limit: int = 25,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Accounts in the viewer's scope, by name; `q` matches name, email, domain or MPN ID."""
    where = []
    if (scope := _scope_clause(viewer)) is not None:
        where.append(scope)
    if kind:
        where.append(Account.kind == kind)
    if parent_id:
        where.append(Account.parent_id == parent_id)
    if q := q.strip():
        pattern = f"%{_escape_like(q)}%"
        where.append(
            WhereRaw(
                # qualified: the select joins accounts to itself for the reseller's name
                '("accounts".name ILIKE {} OR "accounts".email ILIKE {} '
                """OR coalesce("accounts".tenant_domain, '') ILIKE {} """
                """OR coalesce("accounts".mpn_id, '') ILIKE {})""",
                pattern,
                pattern,
                pattern,
                pattern,
            )
        )
    query = Account.select(*Account.all_columns(), Account.parent_id.name.as_alias("parent_name"))
    count = Account.count()
    for clause in where:
        query = query.where(clause)
        count = count.where(clause)
    rows = await query.order_by(Account.name).order_by(Account.id).limit(limit).offset(offset).run()
    return rows, await count.run()


async def _check_domain_free(domain: str | None, exclude: uuid.UUID | None = None) -> None:
    if not domain:
        return
    query = Account.exists().where(Account.tenant_domain.ilike(domain))
    if exclude:
        query = query.where(Account.id != exclude)
    if await query.run():
        raise Invalid({"tenant_domain": f"The domain {domain} is already taken. Choose another."})


async def tenant_domain_problem(settings: Settings, domain: str) -> str:
    """Why a new tenant's domain cannot be had, asking Cloudseat and then Microsoft; "" when it is free.
    Partner Center unreachable: nothing to say now, the tenant's creation will tell."""
    if await Account.exists().where(Account.tenant_domain.ilike(domain)).run():
        return f"The domain {domain} is already taken. Choose another."
    client = app_only_client(settings)
    try:
        taken = await client.domain_exists(domain)
    except Exception:  # advisory: the tenant's creation reports a taken domain at order time
        log.warning("could not check the domain %s at Partner Center", domain, exc_info=True)
        return ""
    finally:
        await client.aclose()
    return f"The domain {domain} is already taken at Microsoft. Choose another." if taken else ""


async def create_reseller(actor: Principal, data: dict) -> dict:
    if not rules.may_create_reseller(actor):
        raise Forbidden("Only CSP admins add resellers.")
    cleaned, errors = rules.clean_account(data, "reseller")
    if errors:
        raise Invalid(errors)
    return await _insert_account(actor, "reseller", None, cleaned)


async def create_customer(actor: Principal, data: dict) -> dict:
    reseller_id = data.get("reseller_id") or None
    if actor.role == "reseller_admin" and reseller_id is None:
        reseller_id = actor.account_id
    try:
        reseller_id = uuid.UUID(str(reseller_id)) if reseller_id else None
    except ValueError:
        raise Invalid({"reseller_id": "Choose a reseller from the list."}) from None
    if not rules.may_create_customer(actor, reseller_id):
        raise Forbidden("Your role cannot add customers here.")
    cleaned, errors = rules.clean_account(data, "customer")
    if reseller_id is not None:
        reseller = await Account.select(Account.kind).where(Account.id == reseller_id).first().run()
        if reseller is None or reseller["kind"] != "reseller":
            errors["reseller_id"] = "Choose a reseller from the list."
    if errors:
        raise Invalid(errors)
    return await _insert_account(actor, "customer", reseller_id, cleaned)


async def _insert_account(actor: Principal, kind: AccountKind, parent_id: uuid.UUID | None, cleaned: dict) -> dict:
    now = clock.now()
    row = {field: cleaned.get(field) for field in ACCOUNT_FIELDS if field in cleaned}
    row.update(id=uuid.uuid4(), kind=kind, parent_id=parent_id, status="active", created_at=now, updated_at=now)
    if row.get("tenant_id"):  # an existing Microsoft tenant: ordering for it needs GDAP (NCE_RULES 3.3)
        row["tenant_origin"] = "existing"
    async with db.transaction():
        await _check_domain_free(row.get("tenant_domain"))
        # from_dict is Table(**row) typed for a dict keyed by column name (the constructor's typed
        # parameter is a dict keyed by Column objects)
        await Account.insert(Account.from_dict(row)).run()
        await audit.record(actor, "account", row["id"], "created", after=row)
    account = await Account.select().where(Account.id == row["id"]).first().run()
    assert account is not None, "the account was committed just above and accounts are never deleted"
    return account


async def update_account(actor: Principal, account_id: uuid.UUID, data: dict) -> dict:
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise Invalid({field: f"{field} cannot be changed here."})
    async with db.transaction():
        account = await get_account(actor, account_id, for_update=True)
        if not rules.may_edit_account(actor, ref(account)):
            raise Forbidden()
        cleaned, errors = rules.clean_account(
            {**data, "_current_country": account["country"]}, account["kind"], partial=True
        )
        cleaned.pop("_current_country", None)
        if errors:
            raise Invalid(errors)
        before, after = audit.changed(account, cleaned)
        if after:
            await Account.update({**after, "updated_at": clock.now()}).where(Account.id == account_id).run()
            await audit.record(actor, "account", account_id, "updated", before=before, after=after)
    return await get_account(actor, account_id)


# --- Users ---------------------------------------------------------------------------------------

USER_COLUMNS = (
    User.id,
    User.email,
    User.name,
    User.role,
    User.account_id,
    User.is_active,
    User.created_at,
    User.last_login_at,
)


async def list_users(viewer: Principal, account_id: uuid.UUID) -> list[dict]:
    await get_account(viewer, account_id)
    rows = await (
        User.select(*USER_COLUMNS, User.password_hash)
        .where(User.account_id == account_id)
        .order_by(User.name, User.email)
        .run()
    )
    # the page shows whether an invitation was taken up, never the hash itself
    return [
        {**{k: v for k, v in r.items() if k != "password_hash"}, "has_password": r["password_hash"] is not None}
        for r in rows
    ]


def _clean_user(data: Mapping[str, object]) -> tuple[str, str]:
    email = str(data.get("email") or "").strip().lower()
    name = str(data.get("name") or "").strip()
    errors = {}
    if message := rules.email_error(email):
        errors["email"] = message
    if not name:
        errors["name"] = "Enter the person's name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if errors:
        raise Invalid(errors)
    return email, name


async def invite_user(
    actor: Principal | None,
    account_id: uuid.UUID | None,
    data: Mapping[str, object],
    base_url: str,
    password: str | None = None,
) -> tuple[dict, str | None]:
    """Add a user to an account (or a CSP admin when `account_id` is None, CLI only).

    Without a password the user gets a set-password link by mail; it is returned too (the CLI prints it).
    """
    email, name = _clean_user(data)
    requested_role = data.get("role")
    async with db.transaction():
        if account_id is None:
            role = "csp_admin"
        else:
            account = await (get_account(actor, account_id) if actor else _account_or_404(account_id))
            if actor and not rules.may_manage_users(actor, ref(account)):
                raise Forbidden()
            role = rules.role_for_account(account["kind"])
        if requested_role and requested_role != role:
            raise Invalid({"role": f"Users of this account are {rules.ROLE_LABELS[role]}s ({role})."})
        if await User.exists().where(User.email.ilike(email)).run():
            raise Invalid({"email": f"A user with the email {email} already exists."})
        if password is not None and (message := password_error(password, email)):
            raise Invalid({"password": message})
        user_id = uuid.uuid4()
        row = {
            "id": user_id,
            "email": email,
            "name": name,
            "role": role,
            "account_id": account_id,
            "is_active": True,
            "created_at": clock.now(),
            "password_hash": await auth.hash_password(password) if password else None,
        }
        await User.insert(User.from_dict(row)).run()
        await audit.record(
            actor, "user", user_id, "created", after={k: v for k, v in row.items() if k != "password_hash"}
        )
        link = None
        if password is None:
            link = await auth.issue_password_link(user_id, "invite", base_url)
            await mail.send(
                email,
                "You are invited to Cloudseat",
                f"Hello {name},\n\n{actor.name if actor else 'Your CSP'} invited you to Cloudseat.\n"
                f"Choose your password here (the link works for 7 days):\n\n{link}\n",
            )
    return await _user(user_id), link


async def _account_or_404(account_id: uuid.UUID) -> dict:
    account = await Account.select().where(Account.id == account_id).first().run()
    if account is None:
        raise NotFound("No such account.")
    return account


async def _user(user_id: uuid.UUID) -> dict:
    """A user the caller has just created or changed (users are deactivated, never deleted)."""
    user = await User.select(*USER_COLUMNS).where(User.id == user_id).first().run()
    assert user is not None, f"user {user_id} was written just before"
    return user


async def set_user_active(actor: Principal, user_id: uuid.UUID, active: bool) -> dict:
    async with db.transaction():
        user = await User.select(*USER_COLUMNS).where(User.id == user_id).first().run()
        if user is None or (user["account_id"] is None and actor.role != "csp_admin"):
            raise NotFound("No such user.")
        if user["account_id"] is not None:
            account = await get_account(actor, user["account_id"])
            if not rules.may_manage_users(actor, ref(account)):
                raise Forbidden()
        if user["id"] == actor.user_id:
            raise Conflict("own_user", "You cannot deactivate yourself.")
        if user["is_active"] != active:
            await User.update({User.is_active: active}).where(User.id == user_id).run()
            if not active:
                await Session.delete().where(Session.user_id == user_id).run()
            await audit.record(
                actor,
                "user",
                user_id,
                "activated" if active else "deactivated",
                before={"is_active": user["is_active"]},
                after={"is_active": active},
            )
    return await _user(user_id)


# --- Microsoft Customer Agreement ---------------------------------------------------------------


# no one accepted the Microsoft Customer Agreement in the last century: an earlier time is a typo (0001-01-01)
MCA_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


async def record_mca_acceptance(actor: Principal, account_id: uuid.UUID, data: dict) -> dict:
    """Log who accepted the MCA for a customer, when, and who recorded it (NCE_RULES.md section 3.2)."""
    errors = {}
    first = str(data.get("first_name") or "").strip()
    last = str(data.get("last_name") or "").strip()
    email = str(data.get("email") or "").strip().lower()
    if not first:
        errors["first_name"] = "Enter the signer's first name."
    if not last:
        errors["last_name"] = "Enter the signer's last name."
    if message := rules.email_error(email):
        errors["email"] = message
    accepted_at = clock.now()
    if data.get("accepted_at"):
        try:
            accepted_at = datetime.fromisoformat(str(data["accepted_at"]).replace("Z", "+00:00"))
        except ValueError:
            errors["accepted_at"] = "Give the time in ISO 8601, like 2026-11-23T10:00:00Z."
        else:
            if accepted_at.tzinfo is None:
                errors["accepted_at"] = "Give the time with its zone, like 2026-11-23T10:00:00Z."
            elif accepted_at > clock.now():
                errors["accepted_at"] = "The acceptance cannot be in the future."
            elif accepted_at < MCA_EARLIEST:
                errors["accepted_at"] = "The acceptance cannot be before 2000: give the time it was accepted."
    if errors:
        raise Invalid(errors)
    async with db.transaction():
        account = await get_account(actor, account_id)
        if account["kind"] != "customer":
            raise Conflict("not_a_customer", "Only customers accept the Microsoft Customer Agreement.")
        row = {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": str(data.get("phone") or "").strip(),
            "accepted_at": accepted_at,
            "method": rules.mca_method(actor),
            "recorded_by": actor.user_id,
            "created_at": clock.now(),
        }
        await McaAcceptance.insert(McaAcceptance.from_dict(row)).run()
        await audit.record(actor, "account", account_id, "mca_accepted", after=row)
    return row


async def latest_mca(account_id: uuid.UUID) -> dict | None:
    return (
        await McaAcceptance.select()
        .where(McaAcceptance.account_id == account_id)
        .order_by(McaAcceptance.accepted_at, ascending=False)
        .first()
        .run()
    )


# --- Home page figures ---------------------------------------------------------------------------


async def figures(viewer: Principal) -> dict:
    """Counts for the viewer's home page, in one query over the viewer's scope."""
    args: list = []
    scope_sql = rules.scope_sql(viewer, "a.id", "a.parent_id", args)  # one parameter, used in every subquery
    rows = await db.fetch(
        f"""
        SELECT
          count(*) FILTER (WHERE a.kind = 'reseller') AS resellers,
          count(*) FILTER (WHERE a.kind = 'customer') AS customers,
          count(*) FILTER (WHERE a.kind = 'customer' AND a.parent_id IS NULL) AS direct_customers,
          count(*) FILTER (WHERE a.status <> 'active') AS inactive_accounts,
          (SELECT count(*) FROM users u JOIN accounts a ON a.id = u.account_id
            WHERE {scope_sql} AND u.is_active) AS users,
          (SELECT count(*) FROM users u JOIN accounts a ON a.id = u.account_id
            WHERE {scope_sql} AND u.is_active AND u.password_hash IS NULL) AS pending_invitations,
          (SELECT count(*) FROM accounts a WHERE {scope_sql} AND a.kind = 'customer'
            AND NOT EXISTS (SELECT 1 FROM mca_acceptances m WHERE m.account_id = a.id))
            AS customers_without_mca
        FROM accounts a WHERE {scope_sql}
        """,
        *args,
    )
    return rows[0]


async def resellers_for_choice(viewer: Principal) -> list[dict]:
    rows, _ = await list_accounts(viewer, kind="reseller", limit=1000)
    return rows
