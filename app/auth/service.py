"""Sign-in use cases: passwords, page sessions, API tokens, set-password links, throttling."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app import clock, db
from app.accounts.rules import Principal
from app.accounts.tables import User
from app.audit import service as audit
from app.auth import rules
from app.auth.tables import ApiToken, LoginAttempt, PasswordToken, Session
from app.errors import Invalid, NotFound, TooManyAttempts, Unauthorized

_hasher = PasswordHasher()
# Verifying against this when the email is unknown keeps the timing of both failures alike.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

BAD_LOGIN = "The email or password is not right."


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def principal_of(user: dict) -> Principal:
    return Principal(
        user_id=user["id"],
        email=user["email"],
        name=user["name"],
        role=user["role"],
        account_id=user["account_id"],
        hold_reason=user.get("hold_reason") or "",
    )


# pg_advisory_xact_lock(classid, key) spaces for sign-in attempts: one lock per email, one per client IP
_EMAIL_LOCK = 7_100_001
_IP_LOCK = 7_100_002


async def _failures(email: str, ip: str, now: datetime) -> tuple[list, list]:
    rows = await db.fetch(
        "SELECT lower(email) = lower($1) AS by_email, ip = $2 AS by_ip, at FROM login_attempts "
        "WHERE at > $3 AND NOT succeeded AND (lower(email) = lower($1) OR ip = $2)",
        email,
        ip,
        now - rules.THROTTLE_WINDOW,
    )
    return [r["at"] for r in rows if r["by_email"]], [r["at"] for r in rows if r["by_ip"]]


async def _claim_attempt(email: str, ip: str, now: datetime) -> int:
    """Record the attempt as a failure before its password is checked, or refuse it if the email or the IP has
    used up its failures. Returns the attempt's id, marked succeeded once the password is right.

    Counting and recording happen under one lock per email and one per IP, so parallel guesses take turns here:
    each sees the ones before it, still unchecked, as failures, and no more than THROTTLE_MAX_FAILURES reach the
    password check. The locks are released before argon2 runs: a flood of guesses queues on a short transaction,
    not on a hash, and holds no connection while the hash runs. The email lock is always taken first, so two
    sign-ins never wait on each other in a cycle.
    """
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _EMAIL_LOCK, email)
        await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _IP_LOCK, ip)
        by_email, by_ip = await _failures(email, ip, now)
        for failures in (by_email, by_ip):
            if until := rules.throttled_until(failures, now):
                raise TooManyAttempts(rules.throttle_message(until, now))
        return cast(
            int,
            await db.fetchval(
                "INSERT INTO login_attempts (email, ip, at, succeeded) VALUES ($1, $2, $3, false) RETURNING id",
                email,
                ip,
                now,
            ),
        )


async def login(email: str, password: str, ip: str, user_agent: str = "") -> tuple[str, Principal]:
    """Check the password and open a session. Returns (session secret for the cookie, principal)."""
    email = email.strip().lower()
    now = clock.now()
    attempt = await _claim_attempt(email, ip, now)

    user = await User.select().where(User.email.ilike(email)).first().run()
    ok = await _verify(user["password_hash"] if user and user["password_hash"] else _DUMMY_HASH, password)
    ok = ok and user is not None and user["is_active"] and user["password_hash"] is not None
    if not ok or user is None:  # `ok` already implies a user; the check tells the type checker so
        raise Unauthorized(BAD_LOGIN)

    secret = rules.new_secret()
    async with db.transaction():
        await Session.insert(
            Session(
                token_hash=rules.digest(secret),
                user_id=user["id"],
                created_at=now,
                expires_at=now + rules.SESSION_LIFETIME,
                ip=ip,
                user_agent=user_agent[:300],
            )
        ).run()
        await LoginAttempt.update({LoginAttempt.succeeded: True}).where(LoginAttempt.id == attempt).run()
        await User.update({User.last_login_at: now}).where(User.id == user["id"]).run()
    return secret, principal_of(user)


async def logout(secret: str) -> None:
    await Session.delete().where(Session.token_hash == rules.digest(secret)).run()


# a reseller's customer is told why its service stopped, not the reseller's balance
RESELLER_HELD = (
    "Your reseller's account is on hold for non-payment, so your subscriptions are suspended. "
    "Please contact your reseller."
)
_PRINCIPAL_SQL = (
    "SELECT u.id, u.email, u.name, u.role, u.account_id, "
    "CASE WHEN a.hold_reason <> '' THEN a.hold_reason WHEN p.hold_reason <> '' THEN '"
    + RESELLER_HELD.replace("'", "''")
    + "' END AS hold_reason "
    "FROM users u LEFT JOIN accounts a ON a.id = u.account_id LEFT JOIN accounts p ON p.id = a.parent_id "
    "WHERE u.is_active AND (a.id IS NULL OR a.status <> 'closed') AND u.id = "
)


async def principal_for_session(secret: str) -> Principal | None:
    rows = await db.fetch(
        _PRINCIPAL_SQL + "(SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2)",
        rules.digest(secret),
        clock.now(),
    )
    return principal_of(rows[0]) if rows else None


async def principal_for_token(token: str) -> Principal | None:
    if not token.startswith(rules.API_TOKEN_PREFIX):
        return None
    token_hash = rules.digest(token)
    rows = await db.fetch(
        _PRINCIPAL_SQL + "(SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL)",
        token_hash,
    )
    if not rows:
        return None
    await ApiToken.update({ApiToken.last_used_at: clock.now()}).where(ApiToken.token_hash == token_hash).run()
    return principal_of(rows[0])


# --- API tokens ---------------------------------------------------------------------------------


async def create_token(actor: Principal, name: str) -> tuple[str, dict]:
    """Create an API token for the actor. The token itself is returned once and never stored."""
    name = name.strip()
    if not name:
        raise Invalid({"name": "Name the token after what will use it, like 'PSA sync'."})
    if len(name) > 100:
        raise Invalid({"name": "Keep the name under 100 characters."})
    token = rules.new_api_token()
    row = {
        "id": uuid.uuid4(),
        "user_id": actor.user_id,
        "name": name,
        "token_hash": rules.digest(token),
        "prefix": token[:10],
        "created_at": clock.now(),
    }
    async with db.transaction():
        await ApiToken.insert(ApiToken.from_dict(row)).run()  # Table(**row), typed for a name-keyed dict
        await audit.record(actor, "api_token", row["id"], "created", after={"name": name, "prefix": row["prefix"]})
    return token, row


async def list_tokens(actor: Principal) -> list[dict]:
    return (
        await ApiToken.select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.prefix,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
        )
        .where(ApiToken.user_id == actor.user_id)
        .order_by(ApiToken.created_at, ascending=False)
        .run()
    )


async def revoke_token(actor: Principal, token_id: uuid.UUID) -> None:
    async with db.transaction():
        token = (
            await ApiToken.select().where((ApiToken.id == token_id) & (ApiToken.user_id == actor.user_id)).first().run()
        )
        if token is None:
            raise NotFound("No such API token.")
        if token["revoked_at"] is None:
            await ApiToken.update({ApiToken.revoked_at: clock.now()}).where(ApiToken.id == token_id).run()
            await audit.record(actor, "api_token", token_id, "revoked", before={"name": token["name"]})


# --- Set-password links -------------------------------------------------------------------------


async def issue_password_link(user_id: uuid.UUID, purpose: str, base_url: str) -> str:
    secret = rules.new_secret()
    now = clock.now()
    await PasswordToken.insert(
        PasswordToken(
            token_hash=rules.digest(secret),
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + rules.SET_PASSWORD_LINK_LIFETIME,
        )
    ).run()
    return f"{base_url}/set-password/{secret}"


async def password_link_user(secret: str) -> dict | None:
    rows = await db.fetch(
        "SELECT u.id, u.email, u.name FROM password_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND u.is_active",
        rules.digest(secret),
        clock.now(),
    )
    return rows[0] if rows else None


async def set_password(secret: str, password: str, confirm: str) -> dict:
    """Use a set-password link once. Sessions opened before are closed (the password changed)."""
    gone = NotFound("This link has expired or was already used. Ask for a new one.")
    user = await password_link_user(secret)
    if user is None:
        raise gone
    if message := rules.password_error(password, user["email"]):
        raise Invalid({"password": message})
    if password != confirm:
        raise Invalid({"confirm": "The two passwords differ."})
    password_hash = await hash_password(password)  # before the transaction: no lock waits on argon2
    async with db.transaction():
        now = clock.now()
        # The link is claimed by this one statement: of several posts at once, the first to mark it used wins and
        # the others, re-checking `used_at IS NULL` on the row it committed, find nothing to claim.
        claimed = await db.fetchval(
            "UPDATE password_tokens t SET used_at = $2 FROM users u "
            "WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND u.id = t.user_id "
            "AND u.is_active AND u.id = $3 RETURNING t.user_id",
            rules.digest(secret),
            now,
            user["id"],
        )
        if claimed is None:
            raise gone
        await User.update({User.password_hash: password_hash}).where(User.id == user["id"]).run()
        await Session.delete().where(Session.user_id == user["id"]).run()
        await audit.record(None, "user", user["id"], "password_set")
    return user
