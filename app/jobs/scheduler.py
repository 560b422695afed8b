"""The scheduler tick: once a minute (and whenever the sandbox clock moves) it asks each domain what has
fallen due by the app clock and queues that work. Every `due` is idempotent and safe to run from several
processes at once, so each app process may tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from app import clock
from app.accounts import tenants
from app.billing import dunning, payments, runs
from app.catalog import sync
from app.subscriptions import health, lifecycle

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 60


def due_checks() -> list[Callable[[datetime], Awaitable[object]]]:
    # installments before billing runs, so a run dated after them invoices them; then the non-payment steps, then the
    # day's automatic card retries
    return [sync.due, tenants.due, lifecycle.due, health.due, runs.due, dunning.due, payments.due]


async def tick(now: datetime | None = None) -> None:
    now = now or clock.now()
    for check in due_checks():
        try:
            await check(now)
        except Exception:  # one domain's failure must not stop the others' work
            log.exception("scheduled check %s failed", check.__qualname__)


class Ticker:
    """The tick as a background task of the app's lifespan."""

    def __init__(self) -> None:
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await tick()
            await asyncio.sleep(INTERVAL_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
