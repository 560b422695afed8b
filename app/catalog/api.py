"""/api/v1/catalog (API.md, Catalog) and /api/v1/operations. Thin: the service and the rules decide."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Router, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, QueryParameter

from app.accounts.rules import Principal
from app.catalog import rules, service, sync
from app.catalog.schemas import (
    FxRateList,
    FxRatesBody,
    MarginRuleAnswer,
    MarginRuleBody,
    MarginRuleList,
    OfferAnswer,
    OfferList,
    PriceAnswer,
)
from app.errors import Conflict, Forbidden
from app.operations import service as operations
from app.operations.schemas import Operation, OperationAnswer, operation_answer
from app.web.auth import provide_me, signed_in
from app.web.paging import api_window, next_cursor
from app.web.schemas import Cursor, Limit, OfferIdPath, OptionalWord, SearchText, Word, answer, fields

# `?wait=` seconds for an operation to end (API.md Conventions: at most 30)
Wait = Annotated[float, QueryParameter(ge=0, le=30)]


@get("/catalog/offers", name="api_catalog_offers")
async def list_offers(
    q: SearchText = "",
    kind: OptionalWord = None,
    segment: OptionalWord = None,
    addon: FromQuery[bool | None] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> OfferList:
    size, offset = api_window(limit, cursor)
    rows, total = await service.list_offers(q=q, kind=kind, segment=segment, addon=addon, limit=size, offset=offset)
    return answer(OfferList, {"items": [service.offer_json(r) for r in rows], "next": next_cursor(size, offset, total)})


@get("/catalog/offers/{offer_id:str}", name="api_catalog_offer")
async def get_offer(offer_id: OfferIdPath) -> OfferAnswer:
    return answer(OfferAnswer, service.offer_json(await service.get_offer(offer_id.upper())))


@get("/catalog/offers/{offer_id:str}/price", name="api_catalog_price")
async def offer_price(
    me: NamedDependency[Principal],
    offer_id: OfferIdPath,
    term: Word,
    billing_plan: Word,
    customer_id: FromQuery[uuid.UUID | None] = None,
) -> PriceAnswer:
    try:
        price = await service.price_json(
            me, offer_id.upper(), term=term, billing_plan=billing_plan.lower(), customer_id=customer_id
        )
    except rules.PriceUnavailable as refused:
        raise Conflict("price_unavailable", str(refused)) from None
    return answer(PriceAnswer, price)


@post("/catalog/sync", name="api_catalog_sync", status_code=202)
async def request_sync(me: NamedDependency[Principal]) -> OperationAnswer:
    run = await sync.request_sync(me)
    return operation_answer(await operations.get(me, run["operation_id"]))


@get("/catalog/fx-rates", name="api_fx_rates")
async def fx_rates(me: NamedDependency[Principal]) -> FxRateList:
    if me.role != "csp_admin":
        raise Forbidden()
    return answer(FxRateList, {"items": [service.fx_json(r) for r in await service.list_fx_rates()], "next": None})


@put("/catalog/fx-rates", name="api_replace_fx_rates")
async def replace_fx_rates(me: NamedDependency[Principal], data: FxRatesBody) -> FxRateList:
    rates = [fields(rate) for rate in data]
    saved = await service.replace_fx_rates(me, rates)
    return answer(FxRateList, {"items": [service.fx_json(r) for r in saved], "next": None})


@get("/catalog/margin-rules", name="api_margin_rules")
async def margin_rules(me: NamedDependency[Principal]) -> MarginRuleList:
    rules = await service.list_margin_rules(me)
    return answer(MarginRuleList, {"items": [service.margin_json(r) for r in rules], "next": None})


@post("/catalog/margin-rules", name="api_create_margin_rule", status_code=201)
async def create_margin_rule(me: NamedDependency[Principal], data: MarginRuleBody) -> MarginRuleAnswer:
    return answer(MarginRuleAnswer, service.margin_json(await service.create_margin_rule(me, fields(data))))


@delete("/catalog/margin-rules/{rule_id:uuid}", name="api_delete_margin_rule", status_code=204)
async def delete_margin_rule(me: NamedDependency[Principal], rule_id: FromPath[uuid.UUID]) -> None:
    await service.delete_margin_rule(me, rule_id)


@get("/operations/{operation_id:uuid}", name="api_operation")
async def get_operation(me: NamedDependency[Principal], operation_id: FromPath[uuid.UUID], wait: Wait = 0) -> Operation:
    return answer(Operation, operations.operation_json(await operations.get(me, operation_id, wait)))


router = Router(
    path="/",
    route_handlers=[
        list_offers,
        get_offer,
        offer_price,
        request_sync,
        fx_rates,
        replace_fx_rates,
        margin_rules,
        create_margin_rule,
        delete_margin_rule,
        get_operation,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    tags=["catalog"],
)
