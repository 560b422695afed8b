"""The app factory: every route, dependency, error handler, template and the lifespan, in one place."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app import clock, db, templating
from app.accounts import api as accounts_api
from app.accounts import routes as accounts_routes
from app.auth import routes as auth_routes
from app.billing import api as billing_api
from app.billing import routes as billing_routes
from app.catalog import api as catalog_api
from app.catalog import routes as catalog_routes
from app.config import ROOT, Settings, get_settings
from app.jobs.scheduler import Ticker
from app.jobs.worker import Worker
from app.mail import api as mail_api
from app.orders import api as orders_api
from app.orders import routes as orders_routes
from app.partner_center import routes as partner_center_routes
from app.partner_center.sandbox import app as sandbox
from app.partner_center.sandbox import controls as sandbox_controls
from app.subscriptions import api as subscriptions_api
from app.subscriptions import routes as subscriptions_routes
from app.web import pages
from app.web.api_docs import LocalSwaggerUI
from app.web.auth import IdentifyCaller, csp_admin_only
from app.web.csrf import BoundCSRF
from app.web.errors import EXCEPTION_HANDLERS
from app.web.openapi import StrictStructSchemaPlugin
from app.web.schemas import error_responses, typed_body
from app.web.security import add_security_headers, content_security_policy, uses_stripe_js


def create_app(settings: Settings | None = None, *, manage_pool: bool = True) -> Litestar:
    """Build the app. Tests pass `manage_pool=False` and own the pool (and the worker) themselves."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if not manage_pool:
            yield
            return
        if not db.DB.config:
            db.configure(db.resolve_database_url(settings.database_url, settings.data_dir))
        await db.open_pool()
        dsn = db.DB.config["dsn"]
        if settings.is_sandbox:
            await sandbox.prepare(settings)
        clock_listener = clock.OffsetListener(dsn) if settings.is_sandbox else None
        if clock_listener:
            await clock_listener.start()
        worker = Worker(dsn, settings) if settings.run_worker else None
        ticker = Ticker() if settings.run_worker else None
        if worker and ticker:
            await worker.start()
            await ticker.start()
        try:
            yield
        finally:
            if ticker:
                await ticker.stop()
            if worker:
                await worker.stop()
            if clock_listener:
                await clock_listener.stop()
            await db.close_pool()

    api = Router(
        path="/api/v1",
        route_handlers=[
            accounts_api.router,
            catalog_api.router,
            orders_api.router,
            subscriptions_api.router,
            billing_api.router,
            Router(path="/", route_handlers=[mail_api.sandbox_mail], guards=[csp_admin_only]),
            sandbox_controls.router,
        ],
        security=[{"bearer": []}],
        before_request=typed_body,
    )
    # the Partner Center sandbox is not served here: it is Microsoft, on its own listener (cli serve)
    app = Litestar(
        route_handlers=[
            api,
            auth_routes.public_router,
            auth_routes.router,
            accounts_routes.router,
            pages.router,
            partner_center_routes.router,
            catalog_routes.router,
            orders_routes.router,
            subscriptions_routes.router,
            billing_routes.router,
            pages.healthz,
            create_static_files_router(
                path="/static", directories=[ROOT / "static"], name="static", include_in_schema=False
            ),
        ],
        dependencies={"settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True)},
        # CSRF tokens bound to the session cookie (app/web/csrf.py), not Litestar's cookie-equals-token check
        middleware=[IdentifyCaller(), BoundCSRF(settings.secret_key, settings.secure_cookies)],
        before_send=[add_security_headers(content_security_policy(stripe=uses_stripe_js(settings)))],
        template_config=TemplateConfig(
            directory=Path(ROOT / "templates"),
            engine=JinjaTemplateEngine,
            engine_callback=templating.configure,
        ),
        openapi_config=OpenAPIConfig(
            title="Cloudseat API",
            version="1",
            path="/schema",
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
            render_plugins=[LocalSwaggerUI()],  # openapi.json is added beside it
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        plugins=[StrictStructSchemaPlugin()],  # before Litestar's own struct plugin
        lifespan=[lifespan],
        debug=settings.debug,
    )
    # every API operation documents its error answers with our error body; the OpenAPI document is built from
    # the registered handlers on first request, so this holds for /schema
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/v1"):
            for handler in route.route_handlers:
                handler.responses = {**error_responses(), **(handler.responses or {})}
    return app
