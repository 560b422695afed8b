"""Settings, read from the environment in one place (no other module reads os.environ)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from app.partner_center.sandbox.tls import ensure_certificate

ROOT = Path(__file__).resolve().parent.parent

Mode = Literal["sandbox", "live"]


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    mode: Mode
    secret_key: str
    host: str
    port: int
    base_url: str
    data_dir: Path
    secure_cookies: bool
    mail_from: str
    smtp_host: str | None
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_starttls: bool
    run_worker: bool
    sandbox_port: int
    pc_client_id: str | None
    pc_client_secret: str | None
    pc_tenant_id: str | None
    debug: bool
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_api_base: str | None = None  # Stripe's API unless set (a local Stripe-compatible server in tests)
    # peers whose X-Forwarded-For/-Proto are believed: addresses or networks of our own reverse proxies
    trusted_proxies: tuple[str, ...] = ()

    @property
    def is_sandbox(self) -> bool:
        return self.mode == "sandbox"

    @property
    def sandbox_tls(self) -> tuple[Path, Path]:
        """The sandbox's https certificate and key (made on first use)."""
        return ensure_certificate(self.data_dir)


def _secret_key(data_dir: Path, given: str | None) -> str:
    """A stable key when none is given, so sessions survive restarts of `make run`."""
    if given:
        return given
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _trusted_proxies(value: str | None) -> tuple[str, ...]:
    """Networks in their plain form ("10.0.0.7/8" -> "10.0.0.0/8", "::1" -> "::1/128"): uvicorn reads a network
    with host bits set as a name that never matches, and would then ignore the proxy's X-Forwarded-Proto."""
    networks = []
    for item in (value or "").split(","):
        if not item.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ValueError(
                f"CLOUDSEAT_TRUSTED_PROXIES: {item.strip()!r} is not an IP address or network (like 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    mode = env.get("CLOUDSEAT_MODE", "sandbox")
    if mode not in ("sandbox", "live"):
        raise ValueError(f"CLOUDSEAT_MODE must be sandbox or live, not {mode!r}")
    data_dir = Path(env.get("CLOUDSEAT_DATA_DIR", str(ROOT / "var")))
    host = env.get("CLOUDSEAT_HOST", "127.0.0.1")
    port = int(env.get("CLOUDSEAT_PORT", "8000"))
    base_url = env.get("CLOUDSEAT_BASE_URL", f"http://{host}:{port}").rstrip("/")
    if mode == "live" and not env.get("SECRET_KEY"):
        raise ValueError("SECRET_KEY must be set in live mode")
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        mode=mode,  # type: ignore[arg-type]
        secret_key=_secret_key(data_dir, env.get("SECRET_KEY")),
        host=host,
        port=port,
        base_url=base_url,
        data_dir=data_dir,
        secure_cookies=_bool(env.get("CLOUDSEAT_SECURE_COOKIES"), base_url.startswith("https://")),
        mail_from=env.get("CLOUDSEAT_MAIL_FROM", "Cloudseat <no-reply@cloudseat.local>"),
        smtp_host=env.get("SMTP_HOST") or None,
        smtp_port=int(env.get("SMTP_PORT", "587")),
        smtp_username=env.get("SMTP_USERNAME") or None,
        smtp_password=env.get("SMTP_PASSWORD") or None,
        smtp_starttls=_bool(env.get("SMTP_STARTTLS"), True),
        run_worker=_bool(env.get("CLOUDSEAT_WORKER"), True),
        sandbox_port=int(env.get("CLOUDSEAT_SANDBOX_PORT", str(port + 443))),
        pc_client_id=env.get("PARTNER_CENTER_CLIENT_ID") or None,
        pc_client_secret=env.get("PARTNER_CENTER_CLIENT_SECRET") or None,
        pc_tenant_id=env.get("PARTNER_CENTER_TENANT_ID") or None,
        debug=_bool(env.get("CLOUDSEAT_DEBUG"), False),
        stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
        stripe_publishable_key=env.get("STRIPE_PUBLISHABLE_KEY") or None,
        stripe_api_base=env.get("STRIPE_API_BASE") or None,
        trusted_proxies=_trusted_proxies(env.get("CLOUDSEAT_TRUSTED_PROXIES")),
    )


@cache
def get_settings() -> Settings:
    return load_settings()
