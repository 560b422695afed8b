"""The whole API document fuzzed with Schemathesis (issue 17): every operation of /schema/openapi.json, with
parameters and bodies drawn from its schemas (valid ones, and ones that break them), against a small world whose
ids the path parameters hit some of the time.

- as a CSP admin (valid and invalid data), as a reseller admin and a customer admin (valid data), and without or
  with a wrong token (every operation answers 401);
- checks on every answer: never a 5xx; the status is one the operation documents (or one of API.md's refusals
  while the document does not name them yet); the body conforms to the schema the document declares for that status
  and content type; a refusal is our error body; data that breaks the schema is refused.

The run is bounded and repeatable: a fixed number of examples per operation, derandomized (the same cases on every
run), no example database. For a deeper look by hand, CLOUDSEAT_FUZZ_SCALE multiplies the examples and
CLOUDSEAT_FUZZ_SEED draws other cases (`CLOUDSEAT_FUZZ_SCALE=10 CLOUDSEAT_FUZZ_SEED=7 pytest -k fuzz`).
Schemathesis generates and checks in a worker thread; each request is carried into the app in the test's own event
loop (where the database pool lives) through an httpx ASGI client. Each test prints and records (junit
`record_property`, and test-artifacts/api-fuzz.txt with the statuses each operation answered) its operations,
cases and seconds."""

from __future__ import annotations

import asyncio
import copy
import io
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
import requests
import schemathesis
import urllib3
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from app import clock, db
from app.accounts import service as accounts
from app.catalog import service as catalog
from app.config import ROOT
from app.operations import service as operations
from tests import factories
from tests.integration import billing_fixtures
from tests.integration.test_billing_runs import run_now

pytestmark = pytest.mark.integration

BASE_URL = "http://testserver"
ARTIFACTS = ROOT / "test-artifacts"
SCALE = float(os.environ.get("CLOUDSEAT_FUZZ_SCALE", "1"))
SEED = os.environ.get("CLOUDSEAT_FUZZ_SEED")
OFFER = "CFQ7TTC0LH18:0001"
# Sandbox controls move the shared clock, inject Partner Center faults or wait for the job queue: they change what
# every later call answers, so they are fuzzed on their own (test_the_sandbox_controls_...), with a reset after.
SANDBOX_CONTROLS = ("/api/v1/sandbox/clock", "/api/v1/sandbox/faults", "/api/v1/sandbox/settle")
# API.md Conventions: the refusals any call may give. While an operation's document does not name them yet, an
# answer with one of them is still checked against our error body (and is a failure if it is anything else).
CONVENTION_ERRORS = {400, 401, 403, 404, 409, 422}
# Litestar's own 400 body ({status_code, detail, extra}), which it documents by itself for operations with
# parameters. The app never sends it (app/web/errors.py answers our body); where the document still names it, the
# answer is checked against our error body instead.
LITESTAR_400 = {"status_code", "detail"}


class InLoop(HTTPAdapter):
    """A `requests` adapter that hands each request to the app through an httpx ASGI client running in `loop`
    (Schemathesis serializes the case as for the network; the app answers in-process)."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.client = client
        self.loop = loop

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        call = self.client.request(str(request.method), str(request.url), headers=headers, content=request.body)
        answer = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=120)
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=[(k, v) for k, v in answer.headers.multi_items() if k.lower() != "content-encoding"],
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


def _documented(case: schemathesis.Case, status: int) -> dict[str, Any] | None:
    responses = case.operation.definition.raw.get("responses", {})
    return responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")


def _names_litestar_400(answer: dict[str, Any] | None) -> bool:
    content = (answer or {}).get("content", {}).get("application/json", {})
    return set(content.get("schema", {}).get("required", [])) >= LITESTAR_400


def documented_answer(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """The status is one the operation documents (or API.md's refusals), its body what the document declares for it,
    and a refusal is `{"error": {"code", "message", "field"?}}`."""
    status = response.status_code
    answer = _documented(case, status)
    assert answer is not None or status in CONVENTION_ERRORS, (
        f"status {status} is not documented for {case.operation.label}"
    )
    if status >= 400:
        body = response.json()
        assert isinstance(body, dict), body
        assert set(body) == {"error"}, body
        error = body["error"]
        assert isinstance(error, dict), body
        assert {"code", "message"} <= set(error) <= {"code", "message", "field"}, body
        assert all(isinstance(value, str) and value for value in error.values()), body
    if answer is not None and not (status == 400 and _names_litestar_400(answer)):
        response_schema_conformance(ctx, response, case)
    return True


CHECKS: list[Callable[..., Any]] = [not_a_server_error, content_type_conformance, documented_answer]


def _without_security(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the fuzzer reads it: without security requirements, so that it draws no Authorization header
    of its own (it would negate the token instead of the data); each test sets the caller's header itself."""
    document = copy.deepcopy(document)
    document.pop("security", None)
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return document


def _has_data(operation: Any) -> bool:
    """Whether there is anything besides the path to break (a negative case must break something)."""
    return bool(operation.body) or any(True for _ in operation.query) or any(True for _ in operation.path_parameters)


# Body and query fields that name a row: valid data names one of the world's some of the time.
ROW_FIELDS = {"account_id", "customer_id", "reseller_id", "offer_id", "subscription_id", "invoice_id"}


def _name_rows(value: Any, known: dict[str, list[str]], draw: Callable[[st.SearchStrategy], Any]) -> Any:
    """`value` with each string under a ROW_FIELDS key replaced by a row of the world (nested objects included)."""
    if isinstance(value, list):
        return [_name_rows(item, known, draw) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: draw(st.sampled_from(known[key]))
        if key in ROW_FIELDS and isinstance(item, str) and known.get(key)
        else _name_rows(item, known, draw)
        for key, item in value.items()
    }


def _strategy(operation: Any, mode: GenerationMode, known: dict[str, list[str]]) -> st.SearchStrategy:
    """The operation's cases; and, for valid data, as many again whose path parameters, body fields and query
    parameters name rows of the world (invalid data keeps what it drew: a made-up id is itself a target)."""
    generated = operation.as_strategy(mode)
    if mode is GenerationMode.NEGATIVE:
        return generated
    names = [p.name for p in operation.path_parameters]
    paths = [dict(zip(names, values, strict=True)) for values in zip(*(known.get(n, []) for n in names), strict=False)]

    sources = st.one_of(*(operation.as_strategy(mode, path_parameters=path) for path in paths)) if paths else generated

    @st.composite
    def naming_rows(draw: Callable[[st.SearchStrategy], Any]) -> Any:
        case = draw(sources)
        if isinstance(case.body, dict | list):
            case.body = _name_rows(case.body, known, draw)
        case.query = _name_rows(dict(case.query or {}), known, draw)
        return case

    return st.one_of(generated, naming_rows())


class Fuzzer:
    """Runs every selected operation of the document, collects failures instead of stopping at the first."""

    def __init__(self, client: httpx.AsyncClient, document: dict[str, Any], world: dict[str, list[str]]) -> None:
        self.schema = schemathesis.openapi.from_dict(_without_security(document)).include(path_regex="^/api/v1/")
        self.session = requests.Session()
        self.session.mount("http://", InLoop(client, asyncio.get_running_loop()))
        self.world = world
        self.counts: dict[str, int] = {}
        self.statuses: dict[str, Counter[int]] = {}
        self.unbreakable: list[str] = []  # schemas that allow anything: no invalid data to draw
        self.failures: list[str] = []

    def operations(self, *, only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Any]:
        only, skip = tuple(only), tuple(skip)
        found = [result.ok() for result in self.schema.get_all_operations()]
        return [op for op in found if (not only or op.path in only) and op.path not in skip]

    def run(
        self,
        operations: list[Any],
        *,
        modes: tuple[GenerationMode, ...],
        examples: int,
        authorization: str | None,
        caller: str,
        checks: list[Callable[..., Any]] = CHECKS,
        expect: int | None = None,
    ) -> None:
        for operation in operations:
            for mode in modes:
                if mode is GenerationMode.NEGATIVE and not _has_data(operation):
                    continue
                try:
                    self._fuzz(operation, mode, examples, authorization, checks, expect)
                except Unsatisfiable:
                    self.unbreakable.append(operation.label)
                except (Exception, BaseExceptionGroup) as failure:  # every operation runs; all are reported together
                    self.failures.append(f"{operation.label} ({mode.value}, {caller}):\n{failure}")

    def _fuzz(
        self,
        operation: Any,
        mode: GenerationMode,
        examples: int,
        authorization: str | None,
        checks: list[Callable[..., Any]],
        expect: int | None,
    ) -> None:
        # A negative case's own negation may be refused before the one we aim at; that is still a 4xx.
        all_checks = [*checks, negative_data_rejection] if mode is GenerationMode.NEGATIVE else checks

        @given(case=_strategy(operation, mode, self.world))
        @settings(
            max_examples=max(1, round(examples * SCALE)),
            derandomize=SEED is None,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            self.counts[operation.label] = self.counts.get(operation.label, 0) + 1
            headers = dict(case.headers or {})
            headers.pop("Authorization", None)
            if authorization is not None:
                headers["Authorization"] = authorization
            case.headers = headers
            response = case.call_and_validate(base_url=BASE_URL, session=self.session, checks=all_checks)
            self.statuses.setdefault(operation.label, Counter())[response.status_code] += 1
            if expect is not None:
                assert response.status_code == expect, (response.status_code, response.text[:300])

        if SEED is not None:
            run = seed(int(SEED))(run)
        run()

    def report(self, record: Callable[[str, object], None], started: float, label: str) -> None:
        cases = sum(self.counts.values())
        elapsed = time.monotonic() - started
        lines = [f"Schemathesis ({label}): {len(self.counts)} operations, {cases} cases in {elapsed:.0f} s"]
        lines += [
            f"  {operation}: {dict(sorted(statuses.items()))}" for operation, statuses in sorted(self.statuses.items())
        ]
        if self.unbreakable:
            lines.append(f"  no invalid data to draw (the schema allows anything): {', '.join(self.unbreakable)}")
        print("\n" + "\n".join(lines))
        ARTIFACTS.mkdir(exist_ok=True)
        with (ARTIFACTS / "api-fuzz.txt").open("a", encoding="utf-8") as summary:  # what each run reached
            summary.write("\n".join(lines) + "\n")
        record("fuzz_operations", len(self.counts))
        record("fuzz_cases", cases)
        record("fuzz_seconds", round(elapsed, 1))
        assert not self.failures, f"{len(self.failures)} failing operation(s):\n\n" + "\n\n".join(self.failures)


@pytest.fixture
async def world(committed) -> dict[str, list[str]]:
    """A reseller with a customer, a direct customer, a catalog offer priced in both currencies, subscriptions with
    charges, an issued invoice and credit note, an order, a finished operation, a margin rule; a token for an admin
    of each role: the ids each kind of path parameter can take."""
    admin = await factories.user(None)
    reseller = await factories.reseller()
    customers = [
        await factories.customer(reseller["id"]),
        await factories.customer(None, country="US", currency="USD", state="WA", postal_code="98052"),
    ]
    for customer in customers:  # an order for them gets past the MCA check to the rules after it
        mca = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.test"}
        await accounts.record_mca_acceptance(await factories.user(customer), customer["id"], mca)
    sync = await db.fetchval(
        "INSERT INTO catalog_sync_runs (status, created_at) VALUES ('completed', now()) RETURNING id"
    )
    await db.execute(
        "INSERT INTO catalog_offers (id, product_id, sku_id, title, product_title, publisher, kind, segment, "
        "min_quantity, max_quantity, fingerprint, first_run_id, changed_run_id) VALUES ($1, 'CFQ7TTC0LH18', '0001', "
        "'Microsoft 365 Business Basic', 'Microsoft 365 Business Basic', 'Microsoft Corporation', 'license', "
        "'commercial', 1, 300, 'x', $2, $2)",
        OFFER,
        sync,
    )
    await db.execute(
        "INSERT INTO catalog_prices (offer_id, market, currency, segment, term, billing_plan, unit_price, erp_price, "
        "effective_start, effective_end, first_run_id, changed_run_id) VALUES "
        "($1, 'DE', 'EUR', 'commercial', 'P1Y', 'annual', 53.57, 66.96, '2025-01-01', '9999-12-31', $2, $2), "
        "($1, 'US', 'USD', 'commercial', 'P1Y', 'monthly', 6.00, 7.20, '2025-01-01', '9999-12-31', $2, $2)",
        OFFER,
        sync,
    )
    await db.execute("UPDATE catalog_settings SET markets = '{US, DE}', currencies = '{USD, EUR}'")
    subscriptions = []
    for customer in customers:
        bill_to = reseller if customer["parent_id"] else customer
        sub = await billing_fixtures.subscription(customer, bill_to=bill_to, plan="annual")
        await billing_fixtures.charge(sub, "100.00")
        refund = await billing_fixtures.subscription(customer, bill_to=bill_to, plan="annual")
        await billing_fixtures.charge(refund, "-10.00", charge_type="cancel")
        subscriptions += [sub["id"], refund["id"]]
        await db.execute(
            "INSERT INTO orders (id, customer_id, bill_to_id, status, currency, created_at, updated_at) "
            "VALUES (gen_random_uuid(), $1, $2, 'completed', $3, now(), now())",
            customer["id"],
            bill_to["id"],
            bill_to["currency"],
        )
    run = await run_now()
    operation = await operations.create("test", admin, account_id=reseller["id"])
    await operations.set_status(operation["id"], "succeeded")  # a finished one: `?wait=` answers at once
    rule = await catalog.create_margin_rule(
        admin, {"kind": "markup_on_cost", "percent": "5", "scope": "reseller", "account_id": str(reseller["id"])}
    )

    async def ids(sql: str) -> list[str]:
        return [str(row["id"]) for row in await db.fetch(sql)]

    account_ids = [str(reseller["id"]), *(str(c["id"]) for c in customers)]
    return {
        "csp_admin": [(await factories.api_token(admin))["Authorization"]],
        "reseller_admin": [(await factories.api_token(await factories.user(reseller)))["Authorization"]],
        "customer_admin": [(await factories.api_token(await factories.user(customers[0])))["Authorization"]],
        "account_id": account_ids,
        "customer_id": account_ids[1:],
        "reseller_id": account_ids[:1],
        "offer_id": [OFFER],
        "subscription_id": [str(s) for s in subscriptions],
        "order_id": await ids("SELECT id FROM orders"),
        "invoice_id": await ids("SELECT id FROM invoices WHERE kind = 'invoice'"),
        "credit_note_id": await ids("SELECT id FROM invoices WHERE kind = 'credit_note'"),
        "operation_id": [str(operation["id"])],
        "run_id": [str(run)],
        "rule_id": [str(rule["id"])],
    }


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200
    return answer.json()


async def test_every_operation_fuzzed_as_a_csp_admin_answers_no_5xx_and_as_documented(world, app, record_property):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        fuzzer = Fuzzer(client, await _document(client), world)
        operations_ = fuzzer.operations(skip=SANDBOX_CONTROLS)
        started = time.monotonic()
        await asyncio.to_thread(
            fuzzer.run,
            operations_,
            modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
            examples=25,
            authorization=world["csp_admin"][0],
            caller="csp_admin",
        )
    assert len(fuzzer.counts) == len(operations_) >= 50  # the document's API operations all ran
    fuzzer.report(record_property, started, "csp_admin")


@pytest.mark.parametrize("role", ["reseller_admin", "customer_admin"])
async def test_every_operation_fuzzed_as_a_partner_or_customer_answers_no_5xx_and_as_documented(
    role, world, app, record_property
):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        fuzzer = Fuzzer(client, await _document(client), world)
        operations_ = fuzzer.operations()  # the sandbox controls answer these roles 403 before reading anything
        started = time.monotonic()
        await asyncio.to_thread(
            fuzzer.run,
            operations_,
            modes=(GenerationMode.POSITIVE,),
            examples=6,
            authorization=world[role][0],
            caller=role,
        )
    assert len(fuzzer.counts) == len(operations_)
    fuzzer.report(record_property, started, role)


async def test_every_operation_without_a_valid_token_answers_401_in_our_error_body(world, app, record_property):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        fuzzer = Fuzzer(client, await _document(client), world)
        operations_ = fuzzer.operations()
        started = time.monotonic()
        for authorization in (None, f"Bearer {uuid.uuid4().hex}", "Basic YWRtaW46YWRtaW4="):
            await asyncio.to_thread(
                fuzzer.run,
                operations_,
                modes=(GenerationMode.POSITIVE,),
                examples=2,
                authorization=authorization,
                caller=(authorization or "no token")[:12],
                expect=401,
            )
    assert len(fuzzer.counts) == len(operations_)
    fuzzer.report(record_property, started, "no valid token")


async def test_the_sandbox_controls_fuzzed_answer_no_5xx_and_as_documented(world, app, record_property):
    """Settle first (nothing queued, so it answers at once), then faults, then the clock; both reset after."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        fuzzer = Fuzzer(client, await _document(client), world)
        await db.execute("DELETE FROM pgqueuer")
        started = time.monotonic()
        try:
            for path in reversed(SANDBOX_CONTROLS):
                await asyncio.to_thread(
                    fuzzer.run,
                    fuzzer.operations(only=[path]),
                    modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
                    examples=25,
                    authorization=world["csp_admin"][0],
                    caller="csp_admin",
                )
        finally:
            await db.execute(
                "UPDATE pcs_faults SET error_rate = 0, throttle_rate = 0, latency_ms = 0, provisioning_ms = 0"
            )
            await db.execute("UPDATE clock_offset SET offset_seconds = 0 WHERE id = 1")
            clock.set_offset(timedelta(0))
    assert len(fuzzer.counts) == 4
    fuzzer.report(record_property, started, "sandbox controls")


async def test_the_document_describes_the_api_only_its_pdfs_as_pdf_and_refuses_unknown_body_fields(app):
    """Found by the fuzz: the pages (basket, orders, subscriptions, admin forms) were documented as JSON operations
    answering 201 JSON, the API's PDFs as application/json, and bodies that refuse unknown fields as taking any."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        document = await _document(client)
    assert [path for path in document["paths"] if not path.startswith("/api/v1/")] == []
    for path in ("/api/v1/invoices/{invoice_id}/pdf", "/api/v1/credit-notes/{credit_note_id}/pdf"):
        assert list(document["paths"][path]["get"]["responses"]["200"]["content"]) == ["application/pdf"]
    bodies = document["components"]["schemas"]
    assert bodies["OrderBody"]["additionalProperties"] is False
    assert bodies["OrderLineBody"]["additionalProperties"] is False
    requested = {
        content["schema"]["$ref"].rsplit("/", 1)[1]
        for item in document["paths"].values()
        for operation in item.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
        if "$ref" in content.get("schema", {})
    }
    assert requested
    assert {name: bodies[name].get("additionalProperties") for name in requested} == dict.fromkeys(requested, False)


async def test_the_fuzzer_itself_fails_on_a_5xx_an_undeclared_answer_and_an_error_body_not_ours():
    """The harness can fail: against a small app with a 500 on some input, an answer that is not the declared
    schema, and Litestar's own error body, each operation is reported."""
    from litestar import Litestar, get
    from litestar.openapi import OpenAPIConfig, ResponseSpec
    from litestar.params import FromQuery

    class Declared(msgspec.Struct):
        total: int

    @get("/api/v1/crash", sync_to_thread=False)
    def crash(n: FromQuery[int]) -> dict[str, int]:
        return {"share": 100 // (n % 7)}  # ZeroDivisionError for one n in seven: a 500

    @get("/api/v1/wrong-shape", responses={200: ResponseSpec(Declared)}, sync_to_thread=False)
    def wrong_shape() -> dict[str, str]:
        return {"total": "twelve"}

    small = Litestar([crash, wrong_shape], openapi_config=OpenAPIConfig(title="t", version="1", path="/schema"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url=BASE_URL) as client:
        fuzzer = Fuzzer(client, await _document(client), {})
        await asyncio.to_thread(
            fuzzer.run,
            fuzzer.operations(),
            modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
            examples=20,
            authorization=None,
            caller="nobody",
        )
    failures = "\n".join(fuzzer.failures)
    assert "GET /api/v1/crash (positive" in failures
    assert "Server error" in failures
    assert "GET /api/v1/crash (negative" in failures  # `?n=abc` answers Litestar's 400 body, not ours
    assert "GET /api/v1/wrong-shape (positive" in failures
    assert "Response violates schema" in failures


async def test_a_nul_byte_in_the_price_query_is_refused_not_a_500(world, client):
    """Found by the fuzz: `term` or `billing_plan` with a NUL byte reached PostgreSQL (CharacterNotInRepertoire)."""
    headers = {"Authorization": world["csp_admin"][0]}
    for query in ("term=P1%00Y&billing_plan=annual", "term=P1Y&billing_plan=ann%00ual"):
        answer = await client.get(f"/api/v1/catalog/offers/{OFFER}/price?{query}", headers=headers)
        assert answer.status_code in (400, 422), answer.text  # 422 where the edge names the parameter first
        assert set(answer.json()["error"]) <= {"code", "message", "field"}
