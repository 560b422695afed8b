"""/api/v1/sandbox: move the shared clock, inject faults, wait for the queue (API.md, Sandbox).

Only in sandbox mode (404 in live mode) and only for CSP admins.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, cast

from litestar import Router, get, post, put
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from app import clock, db
from app.config import Settings
from app.errors import Invalid, NotFound
from app.jobs import scheduler
from app.partner_center.sandbox import service
from app.partner_center.sandbox.schemas import (
    ClockAnswer,
    ClockBody,
    ClockMoved,
    FaultsAnswer,
    FaultsBody,
    SettleAnswer,
)
from app.web.auth import csp_admin_only
from app.web.schemas import answer, fields

DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+)S)?)?$"
)


MAX_YEARS_AHEAD = 10  # API.md: the clock moves to times from now to 10 years ahead


def parse_duration(text: str) -> timedelta:
    """ISO 8601 durations without years or months (their length varies): P8D, PT36H, P1W2DT3H."""
    match = DURATION.fullmatch(text or "")
    if not match or text in ("P", "PT"):
        raise Invalid({"advance": "Give a duration like P8D or PT36H (weeks, days, hours, minutes, seconds)."})
    try:
        return timedelta(**{k: int(v) for k, v in match.groupdict().items() if v})
    except OverflowError:  # more days than a timedelta holds: far beyond the 10 years allowed
        raise Invalid({"advance": _too_far()}) from None


def _too_far() -> str:
    return f"The sandbox clock moves at most {MAX_YEARS_AHEAD} years ahead."


def latest_move(now: datetime) -> datetime:
    """The furthest the clock may move from `now`: 10 calendar years (February 29 to February 28), and never so
    far that the clock would run more than clock.MAX_OFFSET ahead of real time."""
    day = 28 if (now.month, now.day) == (2, 29) else now.day
    return min(now.replace(year=now.year + MAX_YEARS_AHEAD, day=day), clock.real_now() + clock.MAX_OFFSET)


# `?timeout=` seconds to wait for the queue to be idle (API.md Sandbox: at most 30)
SettleTimeout = Annotated[float, QueryParameter(ge=0, le=30)]


def _sandbox_only(settings: Settings) -> None:
    if not settings.is_sandbox:
        raise NotFound()


@get("/sandbox/clock", name="api_sandbox_clock")
async def get_clock(settings: NamedDependency[Settings]) -> ClockAnswer:
    _sandbox_only(settings)
    return answer(
        ClockAnswer,
        {"now": clock.now().isoformat().replace("+00:00", "Z"), "offset_seconds": int(clock.offset().total_seconds())},
    )


@post("/sandbox/clock", name="api_sandbox_clock_move", status_code=200)
async def move_clock(settings: NamedDependency[Settings], data: ClockBody) -> ClockMoved:
    return answer(ClockMoved, await _move_clock(settings, fields(data)))


async def _move_clock(settings: Settings, data: dict[str, Any]) -> dict[str, Any]:
    """Move the shared clock forward (never back) and run what fell due at Partner Center in between."""
    _sandbox_only(settings)
    now = clock.now()
    latest = latest_move(now)
    if "advance" in data:
        # a duration is text; 8 or null is not one even though str() would make it look like text
        duration = parse_duration(data["advance"] if isinstance(data["advance"], str) else "")
        if duration > latest - now:
            raise Invalid({"advance": _too_far()})
        target = now + duration
    elif "to" in data:
        try:
            target = datetime.fromisoformat(str(data["to"]).replace("Z", "+00:00"))
        except ValueError:
            raise Invalid({"to": "Give the time in ISO 8601, like 2027-01-14T00:00:00Z."}) from None
        if target.tzinfo is None:
            raise Invalid({"to": "Give the time with its zone, like 2027-01-14T00:00:00Z."})
        if target < now:
            raise Invalid({"to": "The sandbox clock only moves forward."})
        if target > latest:
            raise Invalid({"to": _too_far()})
    else:
        raise Invalid({"advance": 'Send {"advance": "P8D"} or {"to": "<time>"}.'})
    moved = await clock.advance_to(target)
    async with db.transaction():
        ran = await service.run_scheduler(moved)
    await scheduler.tick(moved)  # Cloudseat's own due work for the time passed
    return {"now": moved.isoformat().replace("+00:00", "Z"), "partner_center": ran}


@put("/sandbox/faults", name="api_sandbox_faults")
async def set_faults(settings: NamedDependency[Settings], data: FaultsBody) -> FaultsAnswer:
    """The body's types and ranges are checked at the edge (FaultsBody); what is left is the rule between fields."""
    _sandbox_only(settings)
    # str() of a float is its shortest decimal (0.2 -> "0.2"): the share stored is the one written
    error_rate, throttle_rate = Decimal(str(data.error_rate).strip()), Decimal(str(data.throttle_rate).strip())
    if error_rate + throttle_rate > 1:
        raise Invalid({"error_rate": "error_rate and throttle_rate together cannot exceed 1."})
    faults = await service.set_faults(error_rate, throttle_rate, data.latency_ms, data.provisioning_ms)
    return answer(FaultsAnswer, faults)


@post("/sandbox/settle", name="api_sandbox_settle", status_code=200)
async def settle(settings: NamedDependency[Settings], timeout: SettleTimeout = 30) -> SettleAnswer:  # noqa: ASYNC109 - API.md names the query parameter
    """Answer when the job queue has no due work left (or after `timeout` seconds, at most 30)."""
    _sandbox_only(settings)
    deadline = asyncio.get_running_loop().time() + max(0.0, min(timeout, 30.0))
    while True:
        pending = int(
            cast(
                int,
                await db.fetchval(
                    "SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked') AND execute_after <= now()"
                ),
            )
        )
        if pending == 0 or asyncio.get_running_loop().time() >= deadline:
            return answer(SettleAnswer, {"idle": pending == 0, "pending": pending})
        await asyncio.sleep(0.1)


router = Router(
    path="/", route_handlers=[get_clock, move_clock, set_faults, settle], guards=[csp_admin_only], tags=["sandbox"]
)
