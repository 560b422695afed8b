import os
import subprocess
import sys

import pytest

from app import db
from app.accounts.tables import User
from app.jobs.worker import drain
from app.mail.tables import OutboxMail
from tests import factories

pytestmark = pytest.mark.integration


async def test_invitation_mail_is_delivered_by_the_job_queue_once(committed, settings):
    customer = await factories.customer(None)
    admin = await factories.user(None)
    from app.accounts import service

    await service.invite_user(admin, customer["id"], {"email": "queued@customer.test", "name": "Q"}, settings.base_url)
    mail = await OutboxMail.select().where(OutboxMail.to_address == "queued@customer.test").first().run()
    assert mail["status"] == "queued"
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'mail.deliver'") == 1
    await drain(db.DB.config["dsn"], settings)
    mail = await OutboxMail.select().where(OutboxMail.to_address == "queued@customer.test").first().run()
    assert (mail["status"], mail["transport"]) == ("sent", "outbox")
    assert mail["sent_at"] is not None
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'mail.deliver'") == 0
    # delivering again (a retried job) leaves the mail as it is
    from app.mail.service import deliver

    assert await deliver(mail["id"], settings) == "skipped"


async def test_a_rolled_back_change_queues_no_job(committed, settings):
    from app.mail import service as mail

    async def failing_use_case() -> None:
        async with db.transaction():
            await mail.send("ghost@example.test", "never", "never")
            raise RuntimeError("the use case failed after queuing")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await OutboxMail.count() == 0
    assert await db.fetchval("SELECT count(*) FROM pgqueuer") == 0


def _cli(settings, *args):
    env = {
        **os.environ,
        "DATABASE_URL": db.DB.config["dsn"],
        "CLOUDSEAT_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": settings.secret_key,
        "CLOUDSEAT_BASE_URL": "http://127.0.0.1:8000",
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_user_and_token_create(committed, settings):
    customer = await factories.customer(None)
    result = _cli(
        settings,
        "user",
        "create",
        "--email",
        "cli@customer.test",
        "--role",
        "customer_admin",
        "--account",
        str(customer["id"]),
    )
    assert result.returncode == 0, result.stderr
    assert "Set-password link (valid 7 days): http://127.0.0.1:8000/set-password/" in result.stdout
    user = await User.select().where(User.email == "cli@customer.test").first().run()
    assert (user["role"], user["account_id"], user["password_hash"]) == (
        "customer_admin",
        customer["id"],
        None,
    )
    mail = await OutboxMail.select().where(OutboxMail.to_address == "cli@customer.test").first().run()
    assert mail["status"] == "sent"

    result = _cli(
        settings,
        "user",
        "create",
        "--email",
        "root@csp.test",
        "--role",
        "csp_admin",
        "--password",
        "a-long-passphrase",
    )
    assert result.returncode == 0, result.stderr
    assert "Set-password link" not in result.stdout
    refused = _cli(settings, "user", "create", "--email", "x@csp.test", "--role", "reseller_admin")
    assert refused.returncode == 2

    result = _cli(settings, "token", "create", "--email", "root@csp.test")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("cs_")
    from app.auth.service import principal_for_token

    assert (await principal_for_token(token)).email == "root@csp.test"
    assert _cli(settings, "token", "create", "--email", "nobody@csp.test").returncode == 1


async def test_migrations_are_idempotent(migrated):
    assert await db.migrate() == []


async def test_settle_answers_when_the_queue_is_idle(committed, client):
    from app.mail import service as mail

    headers = await factories.api_token(await factories.user(None))
    idle = await client.post("/api/v1/sandbox/settle?timeout=5", headers=headers)
    assert idle.json() == {"idle": True, "pending": 0}
    await mail.send("someone@example.test", "Hello", "Body")  # no worker runs in this test process
    busy = await client.post("/api/v1/sandbox/settle?timeout=0.3", headers=headers)
    assert busy.json() == {"idle": False, "pending": 1}


async def test_serve_answers_the_app_and_the_sandbox_each_on_its_own_listener(committed, settings, tmp_path):
    """The sandbox stands for Microsoft, another origin: its https listener serves only the sandbox and the app's
    listener none of it (before, each answered every path of both)."""
    import asyncio
    import ssl

    import httpx

    from app.config import ROOT
    from tests.integration.sandbox_fixtures import PCS_TABLES, TENANT, free_port

    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSEAT_", "SMTP_"))}
    env.update(
        DATABASE_URL=db.DB.config["dsn"],
        CLOUDSEAT_HOST="127.0.0.1",
        CLOUDSEAT_PORT=str(port),
        CLOUDSEAT_SANDBOX_PORT=str(sandbox_port),
        CLOUDSEAT_DATA_DIR=str(tmp_path),
        CLOUDSEAT_WORKER="0",
        SECRET_KEY=settings.secret_key,
    )
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        served = subprocess.Popen(  # noqa: ASYNC220 - a server to stop, not to wait on
            [sys.executable, "-m", "app.cli", "serve", "--no-seed"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    app_url, microsoft_url = f"http://127.0.0.1:{port}", f"https://127.0.0.1:{sandbox_port}"
    discovery = f"/_sandbox/partner-center/login/{TENANT}/v2.0/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(base_url=app_url) as app_side:
            for _ in range(150):
                assert served.poll() is None, log.read_text()
                try:
                    if (await app_side.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            tls = ssl.create_default_context(cafile=str(tmp_path / "sandbox-cert.pem"))
            async with httpx.AsyncClient(base_url=microsoft_url, verify=tls) as microsoft:
                for path in ("/healthz", "/login", "/api/v1/sandbox/clock", "/schema/openapi.json"):
                    assert (await microsoft.get(path)).status_code == 404, path
                signs_in_at = (await microsoft.get(discovery)).json()["authorization_endpoint"]
                assert signs_in_at.startswith(f"{microsoft_url}/_sandbox/partner-center/login/")
            assert (await app_side.get(discovery)).status_code == 404
            assert (await app_side.get(httpx.URL(signs_in_at).raw_path.decode())).status_code == 404
            assert (await app_side.get("/login")).status_code == 200
        # the app's own Partner Center client (msal, then the API) still reaches the sandbox on its listener
        checked = subprocess.run(  # noqa: ASYNC221 - the CLI is a separate process by design
            [sys.executable, "-m", "app.cli", "pc", "check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        assert f"Partner Center: {microsoft_url}/_sandbox/partner-center (sandbox mode)" in checked.stdout
    finally:
        served.terminate()
        served.wait(timeout=30)
        await db.execute(f"TRUNCATE {', '.join(PCS_TABLES)} RESTART IDENTITY CASCADE")
