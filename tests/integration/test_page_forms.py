"""Every page form and every page's query, posted with what a hostile or careless user types (a NUL byte, 100,000
characters, numbers past what the columns hold, `NaN`, a non-UUID, an unknown field, a field left out), signed in as
the CSP admin, a reseller and a customer (each on the forms its role may post), with and without htmx (issue 17:
every page form goes through the same kind of boundary as the API).

Expectations: never a 5xx, and a refusal writes nothing; a refusal is a 4xx that shows the person a message: the
full page for a plain post, the form's fragment for htmx where a page posts that form with htmx (CONVENTIONS 9). A
hand-made HX-Request to a form no page posts with htmx only has to be refused safely. Each case runs in a
savepoint that is rolled back, so one world serves the whole walk and a case cannot see what the previous one did.

The walk must name every page route that reads a form or a query, so a new form cannot ship unchecked.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest
from litestar.params import ParameterKwarg

from app import db
from app.config import ROOT
from tests import factories
from tests.integration import test_authorization_matrix as matrix
from tests.integration.test_security_headers import assert_hardened

pytestmark = pytest.mark.integration

HOSTILE = {
    "nul": "a\x00b",
    "long": "x" * 100_000,
    "big": "99999999999999",
    "negative": "-1",
    "nan": "NaN",
    "exponent": "1e30",
    "nines": "9" * 40,
    "not-uuid": "not-a-uuid",
    "zz": "zz",
}
# a URL cannot carry 100,000 characters (httpx stops at 65,536): a query's longest value is shorter
IN_QUERY = {**HOSTILE, "long": "x" * 60_000}
UNKNOWN_FIELD = "no_such_field"
TEMPLATES = ROOT / "templates"

# the routes another part of the project owns or that need a served Partner Center (tested in their own modules)
OUT_OF_WALK = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/set-password/{secret:str}"),
    ("POST", "/profile/tokens"),
    ("POST", "/profile/tokens/{token_id:uuid}/revoke"),
    ("POST", "/admin/partner-center/connect"),
    ("GET", "/admin/partner-center/callback"),
}

# the fields each form sends (the authorization matrix's valid body, completed from the page's template), so every
# field is walked; "" where the form may leave a field blank
MORE_FIELDS: dict[str, dict[str, str]] = {
    "/accounts": {
        "phone": "",
        "address_line2": "",
        "state": "",
        "mpn_id": "",
        "tenant_domain": "",
        "tenant_id": "",
        "qualification": "",
    },
    "/accounts/validate?field=postal_code": {"kind": "customer", "account_id": "{customer}", "city": "Berlin"},
    "/accounts/{customer}": {
        "email": "it@renamed.test",
        "phone": "",
        "address_line1": "Friedrichstraße 100",
        "address_line2": "",
        "city": "Berlin",
        "state": "",
        "postal_code": "10117",
    },
    "/accounts/{customer}/qualification": {"education_segment": "", "website": "", "validation_code": ""},
    "/catalog/margins": {"reseller_id": "", "offer_id": "", "allow_below_cost": ""},
    "/basket/lines/{basket_line}": {"plan": "P1Y/annual", "coterm_end_date": ""},
    "/basket/mca": {"accepted_on": "2026-01-05"},
    "/subscriptions/{subscription}/cancel": {"quantity": "1"},
    "/subscriptions/{subscription}/schedule": {"coterm_end_date": ""},
    "/admin/partner-center/import": {"reseller_id": ""},
    "/invoices/{invoice}/pay": {"payment_method": ""},
    "/invoices/{invoice}/manual-payment": {"reference": "wire 42", "received_on": "2026-01-05"},
    "/accounts/{reseller}/billing/options": {"auto_pay": "on", "tax_id": ""},
    "/accounts/{reseller}/billing/dunning": {"use_default": ""},
    "/billing/run": {},
    "/billing/seller": {"seller_address": "1 Main St", "seller_tax_id": "", "payment_instructions": ""},
    "/billing/tax": {"reverse_charge": "", "remove": ""},
}
# query parameters a page reads from the request rather than from its signature
MORE_QUERY: dict[str, list[str]] = {
    "/accounts/{account_id:uuid}/billing": ["saved"],
    "/billing": ["saved"],
    "/admin/partner-center": ["connected"],
}
# path parameters that are numbers: the URL is typed by the user too
PATH_NUMBERS = {"/admin/subscription-health/{drift}": "drift"}

# session bookkeeping a signed-in request may write whatever it asks for
BOOKKEEPING = ("sessions", "login_attempts", "api_tokens")
MESSAGE = re.compile(r'class="(?:field-error|alert alert-error)[^"]*"[^>]*>\s*(?:<[^>]+>\s*)*[^<\s]')


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # placeholders filled per actor
    body: dict[str, str] | None
    what: str  # "field=value" for the report
    htmx: bool = False


@dataclass
class Walk:
    calls: int = 0
    problems: list[str] = field(default_factory=list)


def _declared(path: str) -> str:
    return matrix._template(path)


def _query_params(app) -> dict[tuple[str, str], list[str]]:
    """Each page route's query parameters, from its handler's signature (and the few read from the request)."""
    found: dict[tuple[str, str], list[str]] = {}
    for route in app.routes:
        if route.path.startswith(("/api/", "/schema", "/static")):
            continue
        for handler in getattr(route, "route_handlers", ()):
            names = [
                name
                for name, definition in handler.parsed_fn_signature.parameters.items()
                if isinstance(definition.kwarg_definition, ParameterKwarg)
                and type(definition.kwarg_definition).__name__ == "QueryParameter"
            ]
            names += MORE_QUERY.get(route.path, [])
            for method in handler.http_methods:
                if names and method in ("GET", "POST"):
                    found[(method, route.path)] = names
    return found


def _forms() -> dict[tuple[str, str], matrix.Case]:
    """The matrix's page POSTs (each a form with a valid body), by the route they call."""
    return {
        (case.method, _declared(case.path)): case
        for case in matrix.PAGES
        if case.method == "POST" and ("POST", _declared(case.path)) not in OUT_OF_WALK
    }


def test_walk_names_every_form_and_query(app):
    """A route that takes a form or a query is in the walk (a new one must be added to the matrix's PAGES)."""
    declared = {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method == "POST" and not route.path.startswith(("/api/", "/schema"))
    }
    walked = set(_forms()) | {key for key in _query_params(app) if key[0] == "GET"}
    assert declared - walked - OUT_OF_WALK == set()
    queries = set(_query_params(app)) - OUT_OF_WALK
    pages = {(case.method, _declared(case.path)) for case in matrix.PAGES}
    assert queries - pages == set(), "add these pages to the authorization matrix"


def _calls(app, actor: str) -> list[Call]:
    """For each form field and each query parameter: every hostile value, the field left out, and a field the form
    does not have; each with and without htmx."""
    plain: list[Call] = []
    queries = _query_params(app)
    for (_, declared), case in _forms().items():
        if case.expect[actor] in (403, matrix.SKIP):  # the role may not post it: nothing to validate
            continue
        path, _, query = case.path.partition("?")
        body = {**(case.body or {}), **MORE_FIELDS.get(case.path, {})}
        assert isinstance(body, dict)
        plain.append(Call("POST", case.path, body, "valid"))
        for name in body:
            plain += [Call("POST", case.path, {**body, name: v}, f"{name}={k}") for k, v in HOSTILE.items()]
            plain.append(Call("POST", case.path, {k: v for k, v in body.items() if k != name}, f"{name} missing"))
        plain.append(Call("POST", case.path, {**body, UNKNOWN_FIELD: "1"}, "unknown field"))
        for name in queries.get(("POST", declared), []):
            for k, v in IN_QUERY.items():
                plain.append(Call("POST", _with_query(path, query, name, v), body, f"?{name}={k}"))
        if case.path in PATH_NUMBERS:
            for k, v in IN_QUERY.items():
                number_path = case.path.replace("{" + PATH_NUMBERS[case.path] + "}", quote(v, safe=""))
                plain.append(Call("POST", number_path, body, f"path {PATH_NUMBERS[case.path]}={k}"))
    for case in matrix.PAGES:
        declared = _declared(case.path)
        names = queries.get(("GET", declared))
        if case.method != "GET" or not names or ("GET", declared) in OUT_OF_WALK:
            continue
        if case.expect[actor] in (403, matrix.SKIP):
            continue
        path, _, query = case.path.partition("?")
        for name in names:
            plain += [Call("GET", _with_query(path, query, name, v), None, f"?{name}={k}") for k, v in IN_QUERY.items()]
        plain.append(Call("GET", _with_query(path, query, UNKNOWN_FIELD, "1"), None, "unknown query"))
    return [c for call in plain for c in (call, Call(call.method, call.path, call.body, call.what, htmx=True))]


def _hx_posted(app) -> set[str]:
    """The routes a page's template posts with htmx (`hx-post="{{ url_for('name', ...`): their refusals must be a
    fragment the page swaps in (CONVENTIONS 9)."""
    names = {
        match
        for template in TEMPLATES.rglob("*.html")
        for match in re.findall(r"hx-post=\"\{\{ url_for\('(\w+)'", template.read_text())
    }
    paths = {handler.name: route.path for route in app.routes for handler in getattr(route, "route_handlers", ())}
    assert names <= set(paths), names - set(paths)
    return {paths[name] for name in names}


def _with_query(path: str, query: str, name: str, value: str) -> str:
    params = dict(httpx.QueryParams(query))
    params[name] = value
    return f"{path}?{httpx.QueryParams(params)}"


async def _writes() -> dict[str, int]:
    """Rows this transaction has inserted, updated or deleted so far, by table (bookkeeping aside)."""
    rows = await db.fetch(
        "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS n FROM pg_stat_xact_user_tables "
        "WHERE relname <> ALL($1::text[])",
        list(BOOKKEEPING),
    )
    return {r["relname"]: r["n"] for r in rows}


def _fill(value, ids: dict[str, str]):
    return matrix._fill(value, ids)


async def _call(
    client: httpx.AsyncClient, token: str, call: Call, ids: dict[str, str], walk: Walk, hx_posted: set[str]
) -> None:
    headers = {"X-CSRFToken": token}
    if call.htmx:
        headers["HX-Request"] = "true"
    where = f"{call.method} {call.path.split('?')[0]} {call.what}{' (htmx)' if call.htmx else ''}"
    await db.execute("SAVEPOINT walk")
    try:
        before = await _writes()
        response = await client.request(call.method, _fill(call.path, ids), data=_fill(call.body, ids), headers=headers)
        # a failed statement aborts the transaction until the rollback: nothing more can be read before it
        after = await _writes() if response.status_code < 500 else before
    finally:
        await db.execute("ROLLBACK TO SAVEPOINT walk")
    walk.calls += 1
    status, text = response.status_code, response.text
    try:  # refusals carry the security headers as every other answer does (test_security_headers walks the GETs)
        assert_hardened(response)
    except AssertionError as missing:
        walk.problems.append(f"{where}: security headers: {missing}")
    if status >= 500:
        walk.problems.append(f"{where}: {status}")
        return
    if status < 400 or call.what == "valid":
        return
    changed = sorted(table for table, n in after.items() if n != before.get(table, 0))
    if changed:
        walk.problems.append(f"{where}: refused with {status} but wrote to {', '.join(changed)}")
    if call.htmx and _declared(call.path) not in hx_posted:
        return  # no page posts this form with htmx: a hand-made HX-Request only has to be refused safely (above)
    full_page = "<html" in text
    if call.htmx and full_page and status == 422:
        walk.problems.append(f"{where}: a refused htmx post answered the whole page")
    if not call.htmx and not full_page:
        walk.problems.append(f"{where}: a refused plain post answered a fragment, not the page")
    if not MESSAGE.search(text):
        walk.problems.append(f"{where}: refused with {status} and no message shown")


@pytest.mark.parametrize("actor", ["csp", "reseller", "customer"])
async def test_hostile_values_on_every_page_form(tx, app, actor: str):
    world = await matrix.build_world()
    ids = await matrix._ids(world, actor)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    token = await factories.sign_in(client, world["actors"][actor])
    walk = Walk()
    started = time.monotonic()
    hx_posted = _hx_posted(app)
    for call in _calls(app, actor):
        await _call(client, token, call, ids, walk, hx_posted)
    elapsed = time.monotonic() - started
    print(f"{actor}: {walk.calls} calls in {elapsed:.1f} s")
    assert walk.problems == [], "\n".join(walk.problems)
