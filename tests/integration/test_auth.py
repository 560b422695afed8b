import asyncio
import contextlib
import dataclasses
import re
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from app.auth import rules
from app.auth import service as auth
from app.auth.tables import ApiToken, LoginAttempt, Session
from app.cli import server_config
from app.config import Settings
from app.mail.tables import OutboxMail
from app.main import create_app
from app.web.auth import SESSION_COOKIE
from app.web.csrf import CSRF_COOKIE
from tests import factories
from tests.integration.sandbox_fixtures import free_port

pytestmark = pytest.mark.integration


async def _login(client, email, password, token):
    return await client.post("/login", data={"email": email, "password": password, "_csrf_token": token})


async def test_login_sets_a_safe_session_cookie_and_logout_ends_it(tx, client):
    me = await factories.user(await factories.reseller())
    token = factories.csrf_from((await client.get("/login")).text)
    response = await _login(client, me.email, factories.PASSWORD, token)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in tests; Secure behind https (CLOUDSEAT_BASE_URL)
    assert (await client.get("/")).status_code == 200
    assert await Session.count() == 1
    token = factories.csrf_from((await client.get("/")).text)  # the session's token, not the login page's
    assert (await client.post("/logout", data={"_csrf_token": token})).status_code == 303
    assert await Session.count() == 0
    assert (await client.get("/")).status_code == 303


async def test_wrong_password_message_does_not_reveal_whether_the_email_exists(tx, client):
    me = await factories.user(None)
    token = factories.csrf_from((await client.get("/login")).text)
    wrong = await _login(client, me.email, "wrong-password-123", token)
    unknown = await _login(client, "nobody@example.test", "wrong-password-123", token)
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is not right." in wrong.text
    assert "The email or password is not right." in unknown.text


async def test_five_failures_lock_the_email_even_with_the_right_password(tx, client):
    me = await factories.user(None)
    token = factories.csrf_from((await client.get("/login")).text)
    for _ in range(5):
        assert (await _login(client, me.email, "wrong-password-123", token)).status_code == 401
    locked = await _login(client, me.email, factories.PASSWORD, token)
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in locked.text


async def test_five_failures_from_one_ip_lock_that_ip_for_other_emails(tx, client):
    me = await factories.user(None)
    token = factories.csrf_from((await client.get("/login")).text)
    for i in range(5):
        await _login(client, f"guess{i}@example.test", "wrong-password-123", token)
    assert (await _login(client, me.email, factories.PASSWORD, token)).status_code == 429


async def test_login_redirects_only_to_same_site_paths(tx, client):
    me = await factories.user(None)
    token = factories.csrf_from((await client.get("/login")).text)
    response = await client.post(
        "/login",
        data={
            "email": me.email,
            "password": factories.PASSWORD,
            "_csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/"


async def test_invitation_link_sets_the_password_once(tx, client):
    customer = await factories.customer(None)
    admin = await factories.user(None)
    headers = await factories.api_token(admin)
    response = await client.post(
        f"/api/v1/accounts/{customer['id']}/users",
        headers=headers,
        json={"email": "invitee@customer.test", "name": "Ivy Invitee"},
    )
    assert response.status_code == 201
    mail = await OutboxMail.select().where(OutboxMail.to_address == "invitee@customer.test").first().run()
    assert mail["subject"] == "You are invited to Cloudseat"
    link = re.search(r"http://testserver(/set-password/\S+)", mail["body"]).group(1)

    page = await client.get(link)
    assert page.status_code == 200
    assert "Ivy Invitee" in page.text
    token = factories.csrf_from(page.text)
    short = await client.post(link, data={"password": "short", "confirm": "short", "_csrf_token": token})
    assert short.status_code == 422
    assert "Use at least 12 characters." in short.text
    ok = await client.post(
        link, data={"password": "a-long-passphrase", "confirm": "a-long-passphrase", "_csrf_token": token}
    )
    assert ok.status_code == 303
    assert (await _login(client, "invitee@customer.test", "a-long-passphrase", token)).status_code == 303
    reused = await client.get(link)
    assert reused.status_code == 404
    assert "This link no longer works" in reused.text


async def test_revoked_token_stops_working(tx, client):
    me = await factories.user(None)
    signed_in = await factories.sign_in(client, me)
    created = await client.post(
        "/profile/tokens", data={"name": "PSA sync"}, headers={"X-CSRFToken": signed_in, "HX-Request": "true"}
    )
    token = re.search(r'id="new-token">(cs_[^<]+)<', created.text).group(1)
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()["email"] == me.email
    listed = (await client.get("/profile")).text
    token_id = re.search(r"/profile/tokens/([0-9a-f-]{36})/revoke", listed).group(1)
    revoked = await client.post(
        f"/profile/tokens/{token_id}/revoke", headers={"X-CSRFToken": signed_in, "HX-Request": "true"}
    )
    assert "revoked" in revoked.text
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_deactivated_user_is_signed_out_and_cannot_sign_in(tx, client, app):
    customer = await factories.customer(None)
    colleague = await factories.user(customer)
    admin_headers = await factories.api_token(await factories.user(None))
    colleague_headers = await factories.api_token(colleague)
    await factories.sign_in(client, colleague)
    assert (await client.get("/")).status_code == 200
    admin = await factories.user(customer)
    admin_client = type(client)(transport=client._transport, base_url="http://testserver")
    csrf = await factories.sign_in(admin_client, admin)
    response = await admin_client.post(
        f"/users/{colleague.user_id}/active",
        data={"active": "false"},
        headers={"X-CSRFToken": csrf, "HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "deactivated" in response.text
    assert (await client.get("/")).status_code == 303
    assert (await client.get("/api/v1/me", headers=colleague_headers)).status_code == 401
    assert (await client.get("/api/v1/me", headers=admin_headers)).status_code == 200


async def test_post_without_csrf_token_is_refused_and_changes_nothing(tx, client):
    me = await factories.user(None)
    await factories.sign_in(client, me)
    customer = await factories.customer(None, name="Unchanged")
    response = await client.post(f"/accounts/{customer['id']}", data={"name": "Changed"})
    assert response.status_code == 403
    assert "Your form expired" in response.text
    assert (await client.get(f"/api/v1/accounts/{customer['id']}", headers=await factories.api_token(me))).json()[
        "name"
    ] == "Unchanged"


async def test_parallel_wrong_passwords_reach_the_password_check_no_more_than_the_limit_allows(committed, client):
    me = await factories.user(None)
    token = factories.csrf_from((await client.get("/login")).text)
    responses = await asyncio.gather(*(_login(client, me.email, "wrong-password-123", token) for _ in range(200)))
    refused = [r for r in responses if r.status_code == 429]
    assert Counter(r.status_code for r in responses) == {401: rules.THROTTLE_MAX_FAILURES, 429: 195}
    assert all("Too many failed sign-in attempts. Try again in 15 minutes." in r.text for r in refused)
    # every attempt that reached the password check is recorded; the refused ones never got there
    assert await LoginAttempt.count() == rules.THROTTLE_MAX_FAILURES


async def test_the_right_password_after_the_limit_in_one_burst_opens_no_session(committed, client):
    me = await factories.user(None)
    token = factories.csrf_from((await client.get("/login")).text)
    wrong = [_login(client, me.email, "wrong-password-123", token) for _ in range(29)]
    *guesses, right = await asyncio.gather(*wrong, _login(client, me.email, factories.PASSWORD, token))
    assert Counter(r.status_code for r in guesses) == {401: rules.THROTTLE_MAX_FAILURES, 429: 24}
    assert right.status_code == 429
    assert "Too many failed sign-in attempts." in right.text
    assert await Session.count() == 0


async def test_a_set_password_link_posted_twenty_times_at_once_sets_the_password_once(committed, client):
    me = await factories.user(None)
    link = (await auth.issue_password_link(me.user_id, "reset", "http://testserver")).removeprefix("http://testserver")
    token = factories.csrf_from((await client.get(link)).text)
    passwords = [f"new-passphrase-{i:02}" for i in range(20)]
    responses = await asyncio.gather(
        *(client.post(link, data={"password": p, "confirm": p, "_csrf_token": token}) for p in passwords)
    )
    assert Counter(r.status_code for r in responses) == {303: 1, 404: 19}
    assert all("This link no longer works" in r.text for r in responses if r.status_code == 404)
    winner = passwords[[r.status_code for r in responses].index(303)]
    client.cookies.clear()
    token = factories.csrf_from((await client.get("/login")).text)
    assert (await _login(client, me.email, winner, token)).status_code == 303


# each leaves the site in some browser, or after one more decoding by a proxy or htmx
OFF_SITE = [
    "//evil.test",
    "///evil.test",
    "/\\evil.test",
    "\\\\evil.test",
    "/%5Cevil.test",
    "/%5C%5Cevil.test",
    "/%255Cevil.test",
    "%2F%2Fevil.test",
    "/%2F%2Fevil.test",
    "/%252F%252Fevil.test",
    "https://evil.test",
    "HTTPS://evil.test/x",
    "http:evil.test",
    "javascript:alert(1)",
    " //evil.test",
    "\t//evil.test",
    "/\t/evil.test",
    "/\n/evil.test",
    "/\r\n/evil.test",
    "/\x00/evil.test",
    "/%09/evil.test",
    "/%0D%0A/evil.test",
]


@pytest.mark.parametrize("target", OFF_SITE)
async def test_login_sends_people_only_to_paths_of_this_site(tx, client, target):
    me = await factories.user(None)
    for htmx in (True, False):
        client.cookies.clear()
        headers = {"HX-Request": "true"} if htmx else {}
        page = await client.get("/login", params={"next": target})
        assert page.status_code == 200
        assert 'name="next" value="/"' in page.text
        data = {"email": me.email, "password": factories.PASSWORD, "_csrf_token": factories.csrf_from(page.text)}
        response = await client.post("/login", data={**data, "next": target}, headers=headers)
        # signed in already: the login page sends people on at once
        again = await client.get("/login", params={"next": target}, headers=headers)
        for answer in (response, again):
            if htmx:
                assert (answer.status_code, answer.headers["hx-redirect"]) == (200, "/")
                assert "location" not in answer.headers
            else:
                assert (answer.status_code, answer.headers["location"]) == (303, "/")


@pytest.mark.parametrize(
    ("target", "sent"),
    [("/accounts?kind=reseller", "/accounts?kind=reseller"), ("/\u2603/x?q=\u00e9", "/%E2%98%83/x?q=%C3%A9")],
)
async def test_login_keeps_a_path_of_this_site_as_next(tx, client, target, sent):
    me = await factories.user(None)
    for htmx in (True, False):
        client.cookies.clear()
        token = factories.csrf_from((await client.get("/login")).text)
        data = {"email": me.email, "password": factories.PASSWORD, "_csrf_token": token, "next": target}
        response = await client.post("/login", data=data, headers={"HX-Request": "true"} if htmx else {})
        # a header carries ASCII only: other characters go percent-encoded, as a browser would send them
        assert response.headers["hx-redirect" if htmx else "location"] == sent


async def test_a_form_token_of_another_session_is_refused(tx, client, app):
    mine, theirs = await factories.user(None), await factories.user(None)
    my_token = await factories.sign_in(client, mine)
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    their_token = await factories.sign_in(other, theirs)
    # my session cookie with their CSRF cookie and token: what a page of theirs could make my browser send
    mixed = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    mixed.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    mixed.cookies.set(CSRF_COOKIE, other.cookies[CSRF_COOKIE])
    form = await mixed.post("/profile/tokens", data={"name": "planted", "_csrf_token": their_token})
    htmx = await mixed.post(
        "/profile/tokens", data={"name": "planted"}, headers={"X-CSRFToken": their_token, "HX-Request": "true"}
    )
    assert form.status_code == htmx.status_code == 403
    assert "Your form expired. Reload the page and try again." in form.text
    assert "Your form expired. Reload the page and try again." in htmx.text
    assert await ApiToken.count() == 0
    mine_ok = await client.post(
        "/profile/tokens", data={"name": "PSA sync"}, headers={"X-CSRFToken": my_token, "HX-Request": "true"}
    )
    assert mine_ok.status_code == 200
    assert await ApiToken.count() == 1


async def test_a_login_form_of_another_browser_is_refused(tx, client, app):
    me = await factories.user(None)
    elsewhere = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    their_token = factories.csrf_from((await elsewhere.get("/login")).text)
    await client.get("/login")
    refused = await _login(client, me.email, factories.PASSWORD, their_token)
    assert refused.status_code == 403
    assert "Your form expired" in refused.text
    assert await Session.count() == 0
    own = factories.csrf_from((await client.get("/login")).text)
    assert (await _login(client, me.email, factories.PASSWORD, own)).status_code == 303


@contextlib.asynccontextmanager
async def _served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind uvicorn, configured as `cloudseat serve` configures it, reached from 127.0.0.1."""
    port = free_port()
    served = dataclasses.replace(settings, host="127.0.0.1", port=port)
    config = server_config(create_app(served, manage_pool=False), served, port, lifespan="off")
    config.timeout_graceful_shutdown = 0.1  # only idle keep-alive connections are left to wait for
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server stopped before it started"
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def _guess(http: httpx.AsyncClient, forwarded_for: str | None = None) -> int:
    """A wrong password for a new user (a known email: an unknown one is checked against a full-cost hash)."""
    email = (await factories.user(None)).email
    http.cookies.clear()
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    token = factories.csrf_from((await http.get("/login", headers=headers)).text)
    data = {"email": email, "password": "wrong-password-123", "_csrf_token": token}
    return (await http.post("/login", data=data, headers=headers)).status_code


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(committed, settings):
    async with _served(settings) as http:
        for _ in range(rules.THROTTLE_MAX_FAILURES):
            assert await _guess(http, forwarded_for="1.2.3.4") == 401
        # the five failures counted against 127.0.0.1, the peer, whatever the header claimed
        assert await _guess(http, forwarded_for="5.6.7.8") == 429
        assert await _guess(http) == 429
    assert {r["ip"] for r in await LoginAttempt.select(LoginAttempt.ip).run()} == {"127.0.0.1"}


async def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(committed, settings):
    async with _served(dataclasses.replace(settings, trusted_proxies=("127.0.0.1",))) as http:
        for _ in range(rules.THROTTLE_MAX_FAILURES):
            assert await _guess(http, forwarded_for="1.2.3.4") == 401
        assert await _guess(http, forwarded_for="1.2.3.4") == 429
        # a client that writes its own header in front is still named by what the proxy appended
        assert await _guess(http, forwarded_for="5.6.7.8, 1.2.3.4") == 429
        assert await _guess(http, forwarded_for="5.6.7.8") == 401
        assert await _guess(http) == 401  # the proxy's own request
    ips = Counter(r["ip"] for r in await LoginAttempt.select(LoginAttempt.ip).run())
    assert ips == {"1.2.3.4": rules.THROTTLE_MAX_FAILURES, "5.6.7.8": 1, "127.0.0.1": 1}
