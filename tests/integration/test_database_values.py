"""The last net under the typed edge: a value PostgreSQL itself refuses is the caller's 422, never a 500."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar, get
from litestar.params import FromPath

from app import db
from app.web.errors import EXCEPTION_HANDLERS

pytestmark = pytest.mark.integration


@get("/api/v1/probe/{case:str}")
async def probe(case: FromPath[str]) -> dict[str, object]:
    queries: dict[str, tuple[str, object]] = {
        "nul": ("SELECT $1::text", "a\x00b"),  # the server: invalid byte sequence (class 22)
        "int": ("SELECT $1::int", 2**40),  # asyncpg: cannot encode the argument
        "numeric": ("SELECT $1::numeric(18,4)", 10**30),  # the server: numeric field overflow
    }
    sql, value = queries[case]
    return {"value": str(await db.fetchval(sql, value))}


@pytest.mark.parametrize("case", ["nul", "int", "numeric"])
async def test_a_value_the_database_refuses_is_a_422_in_our_format(migrated, case):
    app = Litestar([probe], exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        answer = await client.get(f"/api/v1/probe/{case}")
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid"
    assert "out of range or not valid" in answer.json()["error"]["message"]
