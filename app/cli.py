"""The `cloudseat` command: serve, worker, migrate, seed-demo, user create, token create, pc check.

Each command imports the parts of the app it runs when it runs: the web app, the job handlers and the domain services
take seconds to import, and `cloudseat migrate` or `--help` should not wait for them (tests/unit/test_layering.py
lists these imports; nowhere else in app/ imports inside a function)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from app import clock, db
from app.accounts.tables import User
from app.config import Settings, get_settings
from app.errors import AppError

if TYPE_CHECKING:
    import uvicorn
    from litestar import Litestar


async def _connect(settings: Settings) -> None:
    url = db.resolve_database_url(settings.database_url, settings.data_dir)
    await db.ensure_database(url)
    db.configure(url)


T = TypeVar("T")


def _run(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        await _connect(settings)
        return await work()

    return asyncio.run(main())


def _print_logins(logins: list[tuple[str, str, str]], base_url: str, password: str) -> None:
    print(f"\nCloudseat is at {base_url}  (sandbox mode: Partner Center is simulated)\n")
    print(f"Demo logins, all with the password {password!r}:")
    width = max(len(email) for _, email, _ in logins)
    for role, email, account in logins:
        print(f"  {email:<{width}}  {role}, {account}")
    print()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import PASSWORD, seed, seed_sandbox_partner_center  # lazy: every domain's services (module doc)
    from app.main import create_app  # lazy: the whole web app, seconds of imports (module docstring)

    started = time.monotonic()

    async def prepare() -> list[tuple[str, str, str]]:
        applied = await db.migrate()
        if applied:
            print(f"Applied {len(applied)} migration(s).")
        if not settings.is_sandbox or args.no_seed:
            return []
        logins = await seed(settings.base_url)
        await seed_sandbox_partner_center(settings)
        return logins

    logins = _run(settings, prepare)
    if logins:
        _print_logins(logins, settings.base_url, PASSWORD)
    print(f"Ready in {time.monotonic() - started:.1f} s. Stop with Ctrl+C.", flush=True)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting normally instead lets the
    # embedded PostgreSQL stop with us (its atexit hook) rather than linger as an orphan.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_serve(create_app(settings), settings))
    return 0


def server_config(app: Litestar, settings: Settings, port: int, **options: Any) -> uvicorn.Config:
    """How `serve` runs the app on one port (tests serve it the same way)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_level="warning",
        # requests in flight get a few seconds to finish; idle keep-alive connections (the worker's Partner Center
        # client to the sandbox listener) would otherwise hold a stop for 20 s
        timeout_graceful_shutdown=3,
        # uvicorn believes X-Forwarded-For from any local peer unless told otherwise (FORWARDED_ALLOW_IPS defaults
        # to 127.0.0.1): then anyone on the host names their own address and escapes the per-IP sign-in lock
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        **options,
    )


async def _serve(app: Litestar, settings: Settings) -> None:
    """The app on http; in sandbox mode the Partner Center sandbox on https, a listener of its own (msal and
    Microsoft's API are https only, and Microsoft is another origin than the app). Stopping either stops both."""
    import uvicorn

    from app.partner_center.sandbox.app import create_sandbox_server  # lazy: the sandbox's whole app (module doc)

    servers = [uvicorn.Server(server_config(app, settings, settings.port))]
    if settings.is_sandbox:
        cert, key = settings.sandbox_tls
        servers.append(
            uvicorn.Server(
                server_config(
                    create_sandbox_server(settings),
                    settings,
                    settings.sandbox_port,
                    lifespan="off",
                    ssl_certfile=str(cert),
                    ssl_keyfile=str(key),
                )
            )
        )

    async def run(server: uvicorn.Server) -> None:
        try:
            await server.serve()
        finally:
            for other in servers:
                other.should_exit = True

    await asyncio.gather(*(run(server) for server in servers))


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Work the job queue and the scheduler tick without serving pages: more processes for the same database
    (the queue hands each job to one of them)."""
    from app.jobs.scheduler import Ticker  # lazy: its checks import every domain (module docstring)
    from app.jobs.worker import Worker  # lazy: its handlers import every domain (module docstring)

    async def work() -> None:
        await db.open_pool()
        dsn = db.DB.config["dsn"]
        listener = clock.OffsetListener(dsn) if settings.is_sandbox else None
        if listener:
            await listener.start()
        worker, ticker = Worker(dsn, settings), Ticker()
        await worker.start()
        await ticker.start()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print("Cloudseat worker: working the job queue (Ctrl-C stops)", flush=True)
        try:
            await stop.wait()
        finally:
            await ticker.stop()
            await worker.stop()
            if listener:
                await listener.stop()
            await db.close_pool()

    _run(settings, work)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    applied = _run(settings, db.migrate)
    print(f"Applied {len(applied)} migration(s).")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import PASSWORD, seed, seed_sandbox_partner_center  # lazy: every domain's services (module doc)

    async def work() -> list[tuple[str, str, str]]:
        await db.migrate()
        logins = await seed(settings.base_url)
        if settings.is_sandbox:
            await seed_sandbox_partner_center(settings)
        return logins

    _print_logins(_run(settings, work), settings.base_url, PASSWORD)
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    import uuid

    from app.accounts import service  # lazy: it imports Partner Center's client and the mail (module docstring)
    from app.jobs.worker import drain  # lazy: its handlers import every domain (module docstring)

    async def work() -> int:
        account_id = uuid.UUID(args.account) if args.account else None
        if (args.role == "csp_admin") != (account_id is None):
            print("A csp_admin has no --account; every other role needs one.", file=sys.stderr)
            return 2
        try:
            user, link = await service.invite_user(
                None,
                account_id,
                {"email": args.email, "name": args.name or args.email.split("@")[0], "role": args.role},
                settings.base_url,
                password=args.password,
            )
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        await drain(db.DB.config["dsn"], settings)
        print(f"Created {user['role']} {user['email']} ({user['id']}).")
        if link:
            print(f"Set-password link (valid 7 days): {link}")
        return 0

    return _run(settings, work)


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth import service  # lazy: it imports the accounts' services (module docstring)

    async def work() -> int:
        user = await User.select().where(User.email.ilike(args.email.strip())).first().run()
        if user is None or not user["is_active"]:
            print(f"error: no active user {args.email}", file=sys.stderr)
            return 1
        token, _ = await service.create_token(service.principal_of(user), args.name)
        print(token)
        return 0

    return _run(settings, work)


def cmd_pc_check(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    from app.partner_center.connection import check  # lazy: Partner Center's client and msal (module docstring)

    try:
        lines = _run(settings, lambda: check(settings))
    except (httpx.ConnectError, OSError) as exc:
        where = "the sandbox is served by `cloudseat serve` (make run): start it first" if settings.is_sandbox else ""
        print(f"error: cannot reach Partner Center ({exc}); {where}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cloudseat", description="Cloudseat: commerce and billing for Microsoft CSPs")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, seed the demo data (sandbox mode) and serve the app")
    serve.add_argument("--no-seed", action="store_true", help="do not create the demo data")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("worker", help="work the job queue without serving pages").set_defaults(func=cmd_worker)
    sub.add_parser("seed-demo", help="create the demo CSP, resellers and customers").set_defaults(func=cmd_seed)
    user = sub.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user; without --password it prints a set-password link")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["csp_admin", "reseller_admin", "customer_admin"])
    create.add_argument("--account", help="the account ID (resellers' and customers' users)")
    create.add_argument("--name")
    create.add_argument("--password")
    create.set_defaults(func=cmd_user_create)
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    tcreate = token.add_parser("create", help="create an API token for a user and print it once")
    tcreate.add_argument("--email", required=True)
    tcreate.add_argument("--name", default="cli")
    tcreate.set_defaults(func=cmd_token_create)
    pc = sub.add_parser("pc", help="Partner Center").add_subparsers(dest="pc_command", required=True)
    pc.add_parser("check", help="who we are connected as, token expiry, customers and subscriptions").set_defaults(
        func=cmd_pc_check
    )
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    return args.func(args, get_settings())


if __name__ == "__main__":
    sys.exit(main())
