"""Sign-in rules. Pure: no I/O."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import quote, unquote, urlsplit

SESSION_LIFETIME = timedelta(days=7)
SET_PASSWORD_LINK_LIFETIME = timedelta(days=7)
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_MAX_FAILURES = 5
MIN_PASSWORD_LENGTH = 12
API_TOKEN_PREFIX = "cs_"  # noqa: S105 - a prefix that lets secret scanners spot our tokens


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Session ids, API tokens and set-password links are stored only as their SHA-256.

    They are 256-bit random values, so a fast hash is safe (unlike passwords, which use argon2).
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def throttled_until(failures: list[datetime], now: datetime) -> datetime | None:
    """5 failures within 15 minutes lock the email (or the IP) until the oldest of them ages out."""
    recent = sorted(t for t in failures if now - t < THROTTLE_WINDOW)
    if len(recent) < THROTTLE_MAX_FAILURES:
        return None
    return recent[-THROTTLE_MAX_FAILURES] + THROTTLE_WINDOW


def throttle_message(until: datetime, now: datetime) -> str:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-in attempts. Try again in {minutes} {unit}."


def password_error(password: str, email: str = "") -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 512:
        return "Use at most 512 characters."
    if email and password.lower() == email.lower():
        return "Do not use your email address as your password."
    return None


def safe_next(target: str | None) -> str:
    r"""Where to go after signing in: a path of this site, else "/".

    Browsers read a backslash as a slash and skip tabs and newlines in a URL, so "/\evil.test" or "\t//evil.test"
    leave the site like "//evil.test" does; an encoded "%5C" or "%2F%2F" may be decoded once more on the way (by
    a proxy, by htmx). The target is refused if any decoding of it is not a plain path. What is kept is sent as
    ASCII: a response header (Location, HX-Redirect) cannot carry "/\u2603", so other characters are
    percent-encoded as a browser would.
    """
    if not target:
        return "/"
    seen = target
    for _ in range(3):  # a target encoded more often than this is no one's link
        if (
            not seen.startswith("/")
            or seen.startswith("//")
            or "\\" in seen
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in seen)
            or urlsplit(seen).netloc
        ):
            return "/"
        decoded = unquote(seen)
        if decoded == seen:
            return "".join(c if c.isascii() else quote(c, errors="replace") for c in target)
        seen = decoded
    return "/"
