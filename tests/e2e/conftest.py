"""Browser tests: the real app served by `cloudseat serve` in a subprocess, driven by Debian's chromium
through Playwright's async API (in pytest-asyncio's session event loop, so no second loop is needed).

The demo data is committed for real (the served app runs in another process and cannot see a test
transaction) and truncated when the e2e package finishes, so the other tests start from empty tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app import db, demo
from app.config import ROOT, Settings
from tests.conftest import APP_TABLES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
STARTUP_TIMEOUT = 30.0
TIMEOUT_MS = 10_000
CSP_VIOLATION = "Content Security Policy"  # in Chromium's console message for each thing the policy refused
TRUNCATE = f"TRUNCATE {', '.join(APP_TABLES)} RESTART IDENTITY CASCADE"


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium with `make browser` to run the browser tests")


@dataclass(frozen=True)
class Server:
    base_url: str
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cloudseat_command() -> str:
    beside_python = Path(sys.executable).with_name("cloudseat")
    return str(beside_python if beside_python.exists() else ROOT / ".venv" / "bin" / "cloudseat")


def _server_env(database_url: str, port: int, data_dir: Path, secret_key: str) -> dict[str, str]:
    # Start from this environment (PATH, XDG_RUNTIME_DIR of the embedded PostgreSQL) without any
    # Cloudseat or SMTP setting of the developer's shell leaking into the served app.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSEAT_", "SMTP_"))}
    env.update(
        DATABASE_URL=database_url,
        CLOUDSEAT_HOST="127.0.0.1",
        CLOUDSEAT_PORT=str(port),
        CLOUDSEAT_BASE_URL=f"http://127.0.0.1:{port}",
        CLOUDSEAT_DATA_DIR=str(data_dir),
        CLOUDSEAT_MODE="sandbox",
        CLOUDSEAT_WORKER="1",
        SECRET_KEY=secret_key,
        PYTHONUNBUFFERED="1",
    )
    return env


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _output(log: Path) -> str:
    return log.read_text(errors="replace")


async def _wait_until_healthy(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"cloudseat serve exited with {process.returncode} before answering:\n{_output(log)}"
                )
            try:
                if (await client.get(base_url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"cloudseat serve did not answer /healthz within {STARTUP_TIMEOUT:.0f} s:\n{_output(log)}"
                )
            await asyncio.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# Package scope, not session: the served app lives as long as the whole e2e package (one start for
# every browser test), but its committed demo data is truncated as soon as the package is done, before
# tests/integration and tests/unit run in the same session and expect empty tables.
@pytest.fixture(scope="package")
async def server(
    migrated: str, database_url: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    require_chromium()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    await db.execute(TRUNCATE)  # whatever an earlier test committed
    await demo.seed(base_url)
    served = dataclasses.replace(settings, base_url=base_url, port=port, host="127.0.0.1", sandbox_port=port + 443)
    await demo.seed_sandbox_partner_center(served)  # connected to the sandbox, first catalog sync queued
    data_dir = tmp_path_factory.mktemp("e2e-data")
    log = data_dir / "server.log"
    process = _start(
        [_cloudseat_command(), "serve", "--no-seed"],
        _server_env(database_url, port, data_dir, settings.secret_key),
        log,
    )
    try:
        await _wait_until_healthy(base_url, process, log)
        yield Server(base_url=base_url, log=log)
    finally:
        _stop(process)
        await db.execute(TRUNCATE)


@pytest.fixture(scope="package")
async def browser(server: Server):
    require_chromium()
    from playwright.async_api import async_playwright

    playwright = await async_playwright().start()
    try:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
    finally:
        await playwright.stop()


@pytest.fixture
async def page(browser, server: Server):
    """A fresh browser profile (no cookies) per test, on the served app. Whatever the browser refused under the
    Content-Security-Policy (an inline script or style, an eval, another origin) fails the test."""
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = await browser.new_context(
        base_url=server.base_url, viewport={"width": 1280, "height": 800}, locale="en-US"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if CSP_VIOLATION in message.text else None)
    try:
        yield page
    finally:
        await context.close()
    assert refused == [], "the browser refused what the Content-Security-Policy does not allow"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
