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
    """The US market only: the tests that use it buy for US customers, and a sync of all eight markets costs
    each of them two seconds more (test_catalog syncs them all)."""
    from tests.integration.test_catalog import synced

    await synced(pc_sandbox, admin, ["US"])
    return pc_sandbox
