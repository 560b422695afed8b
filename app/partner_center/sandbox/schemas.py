"""The sandbox controls' bodies (API.md Sandbox), decoded at the edge (app/web/schemas.py)."""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from app.web.schemas import PRINTABLE, Answer, Body

# a share of calls, 0 to 1: a JSON number (0.2) as API.md writes it, or the same as a decimal string ("0.2")
Share = (
    Annotated[float, Meta(ge=0, le=1)]
    | Annotated[str, Meta(max_length=12, pattern=r"^\s*(0(\.\d{1,8})?|1(\.0{1,8})?)\s*$")]
)


class FaultsBody(Body):
    """`PUT /sandbox/faults`: what share of Partner Center calls fail (5xx) or are throttled (429), how slow every
    call is, and how long an order takes to provision (left out: unchanged)."""

    error_rate: Share = 0
    throttle_rate: Share = 0
    latency_ms: Annotated[int, Meta(ge=0, le=60_000)] = 0
    provisioning_ms: Annotated[int, Meta(ge=0, le=600_000)] | None = None


class ClockBody(Body):
    """`POST /sandbox/clock`: `{advance: "P8D"}` or `{to: "<time>"}`; the handler checks the duration, the zone and
    the range (now to 10 years ahead) with its own messages."""

    advance: Annotated[str, Meta(max_length=40, pattern=PRINTABLE)] | UnsetType = UNSET
    to: Annotated[str, Meta(max_length=40, pattern=PRINTABLE)] | UnsetType = UNSET


# --- Answers (API.md Sandbox), in the order app/partner_center/sandbox/controls.py and service.py write them -----
# Their values are typed here rather than with app.web.answers: the sandbox leans on no more of Cloudseat than it
# did (tests/unit/test_layering.py), and these two are the sandbox's own.

Time = Annotated[
    str,
    Meta(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", description="The clock's time, ISO 8601 in UTC."),
]
ShareText = Annotated[str, Meta(pattern=r"^[01](\.\d+)?$", description='A share of calls, 0 to 1, e.g. "0.2000".')]


class ClockAnswer(Answer):
    """`GET /sandbox/clock`: the shared clock's time, and how far it runs ahead of real time."""

    now: Time
    offset_seconds: int


class SchedulerRun(Answer):
    """What the simulated Partner Center did for the time passed (service.run_scheduler): how many of each."""

    provisioned: int
    cycle_charges: int
    renewed: int
    expired: int
    disabled: int
    deleted: int
    invoices: int


class ClockMoved(Answer):
    """`POST /sandbox/clock`: the clock's new time, once the due work is queued."""

    now: Time
    partner_center: SchedulerRun


class FaultsAnswer(Answer):
    """`PUT /sandbox/faults`: the faults now in force (shares of calls as decimal strings)."""

    error_rate: ShareText
    throttle_rate: ShareText
    latency_ms: int
    provisioning_ms: int


class SettleAnswer(Answer):
    """`POST /sandbox/settle`: `idle` when no due job is left; else `pending` jobs were still due at the timeout."""

    idle: bool
    pending: int
