"""Fixtures the integration modules share: a CSP admin, and the sandbox with its catalog synced."""

from __future__ import annotations

import pytest

from tests import factories
from tests.integration.sandbox_fixtures import Sandbox


@pytest.fixture
async def admin(committed):
    return await factories.user(None)


@pytest.fixture
async def catalog(pc_sandbox: Sandbox, admin) -> Sandbox:
    from tests.integration.test_catalog import synced

    await synced(pc_sandbox, admin)
    return pc_sandbox
