"""The Content-Security-Policy in a real browser: htmx still swaps under it, the API docs render from our own
/static, and nothing is refused (the `page` fixture fails a test on any refusal the browser logs)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import CHROMIUM, CSP_VIOLATION, Server
from tests.e2e.test_browser import RESELLER, nav, sign_in

pytestmark = pytest.mark.e2e

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)


def policy_of(headers: dict[str, str]) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (d.split() for d in headers["content-security-policy"].split(";"))}


async def test_search_as_you_type_works_under_the_policy(page: Page, server: Server, artifacts):
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text))
    await sign_in(page, RESELLER)
    async with page.expect_response(re.compile(r"/accounts\?kind=customer$")) as answer:
        await nav(page).filter(has_text="Customers").click()
    policy = policy_of(await (await answer.value).all_headers())
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]

    # htmx injects no indicator <style> (which the policy would refuse): its rules come from cloudseat.css
    assert await page.locator("head style").count() == 0
    rows = page.locator("#accounts-table tbody tr")
    await page.evaluate("window.__stillTheSamePage = true")
    async with page.expect_response(re.compile(r"[?&]q=litw")) as swap:
        await page.get_by_placeholder("Search by name, email, domain or MPN ID").press_sequentially("litw", delay=60)
    assert (await swap.value).headers["cache-control"] == "no-store"
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Litware Schools")
    assert await page.evaluate("window.__stillTheSamePage === true"), "the search reloaded the page"
    await page.screenshot(path=artifacts / "csp-customers-search.png", full_page=True)
    assert [text for text in logged if CSP_VIOLATION in text] == []


async def test_the_api_docs_render_from_local_assets_under_the_policy(page: Page, server: Server, artifacts):
    origins: set[str] = set()
    page.on("request", lambda request: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(request.url))))
    response = await page.goto("/schema")
    assert response is not None
    assert response.status == 200
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Cloudseat API")
    await expect(page.locator(".opblock-tag-section").first).to_be_visible()
    await page.locator(".opblock-summary").first.click()  # an operation opens (Swagger UI's own rendering)
    await expect(page.locator(".opblock-body").first).to_be_visible()
    await page.screenshot(path=artifacts / "api-docs.png")
    assert origins == {server.base_url}, origins
