"""Fixtures the integration modules share: a CSP admin, and the sandbox with its catalog synced."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests import factories
from tests.integration.sandbox_fixtures import Sandbox


@pytest.fixture
async def admin(committed):
    return await factories.user(None)


@pytest.fixture
async def catalog(pc_sandbox: Sandbox, admin) -> Sandbox:
    """The US market only: the tests that use it buy for US customers, and a sync of all eight markets costs
    each of them two seconds more (test_catalog syncs them all)."""
    from tests.integration.test_catalog import synced

    await synced(pc_sandbox, admin, ["US"])
    return pc_sandbox


@pytest.fixture
async def talks_to_sandbox(catalog: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose pages call the served sandbox (the `client` fixture's app has none to call)."""
    from app.main import create_app

    app = create_app(catalog.settings, manage_pool=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as served:
        yield served
