"""The in-process worker: pgqueuer's QueueManager on its own connection, with our handlers.

Several app processes may run one each: pgqueuer dequeues with FOR UPDATE SKIP LOCKED, so a job runs
in one process only. Failures are retried with exponential backoff and then parked as `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from pgqueuer import Job, QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.executors import DatabaseRetryEntrypointExecutor
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from app import demo
from app.accounts import tenants
from app.billing import payments, runs
from app.catalog import sync as catalog_sync
from app.config import Settings
from app.mail import jobs as mail_jobs
from app.orders import jobs as order_jobs
from app.subscriptions import changes, health, lifecycle, upgrades

log = logging.getLogger(__name__)

Handler = Callable[[dict, Settings], Awaitable[object]]
MAX_ATTEMPTS = 6
# a job picked by a process that died (killed, crashed) is picked again once its heartbeat is this old
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


def handlers() -> dict[str, Handler]:
    """The registry of job handlers: entrypoint name -> async function(payload, settings)."""
    return {
        **mail_jobs.HANDLERS,
        **catalog_sync.HANDLERS,
        **order_jobs.HANDLERS,
        **tenants.HANDLERS,
        **changes.HANDLERS,
        **lifecycle.HANDLERS,
        **upgrades.HANDLERS,
        **health.HANDLERS,
        **runs.HANDLERS,
        **payments.HANDLERS,
        **demo.HANDLERS,
    }


def build(connection: asyncpg.Connection, settings: Settings) -> QueueManager:
    qm = QueueManager(Queries(AsyncpgDriver(connection)))
    for name, handler in handlers().items():
        _register(qm, name, handler, settings)
    return qm


def _register(qm: QueueManager, name: str, handler: Handler, settings: Settings) -> None:
    @qm.entrypoint(
        name,
        on_failure="hold",
        executor_factory=lambda params: DatabaseRetryEntrypointExecutor(
            params, max_attempts=MAX_ATTEMPTS, initial_delay=timedelta(seconds=1)
        ),
    )
    async def run(job: Job) -> None:
        payload = json.loads(job.payload or b"{}")
        try:
            await handler(payload, settings)
        except Exception:  # the retry executor logs only that it retries: say why, with the traceback
            log.warning("job %s %s failed (it is retried)", name, job.id, exc_info=True)
            raise


class Worker:
    """Runs the queue manager as a background task of the app's lifespan."""

    def __init__(self, dsn: str, settings: Settings) -> None:
        self.dsn = dsn
        self.settings = settings
        self._task: asyncio.Task | None = None
        self._qm: QueueManager | None = None
        self._conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.dsn)
        self._qm = build(self._conn, self.settings)
        self._task = asyncio.create_task(
            self._qm.run(dequeue_timeout=timedelta(seconds=5), heartbeat_timeout=HEARTBEAT_TIMEOUT)
        )

    async def stop(self) -> None:
        if self._qm is not None:
            self._qm.shutdown.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=10)
        if self._conn is not None:
            await self._conn.close()


async def drain(dsn: str, settings: Settings, *, heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT) -> None:
    """Run every job that is due now, then return (tests and `cloudseat` commands). A job whose worker died
    (no heartbeat for `heartbeat_timeout`) is due again."""
    conn = await asyncpg.connect(dsn)
    try:
        qm = build(conn, settings)
        await qm.run(
            mode=QueueExecutionMode.drain,
            dequeue_timeout=timedelta(seconds=1),
            log_aggregation_interval=timedelta(0),
            heartbeat_timeout=heartbeat_timeout,
        )
    finally:
        await conn.close()
