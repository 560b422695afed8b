"""/api/v1 for billing (API.md Billing, and the credit and billing-options routes of Accounts). Thin."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Response, Router, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.billing import invoices, options, payments, runs
from app.billing import service as billing
from app.billing.schemas import (
    AccountDunningAnswer,
    BillingOptionsAnswer,
    BillingOptionsBody,
    ChargeList,
    CreditAnswer,
    CreditBody,
    DeferredRevenueList,
    DocumentList,
    DocumentWithLines,
    DunningAnswer,
    DunningBody,
    PaymentAnswer,
    PaymentBody,
    PaymentList,
    RunAnswer,
    RunBody,
    RunStarted,
    TaxRateAnswer,
    TaxRateBody,
    TaxRateList,
)
from app.config import Settings
from app.errors import Forbidden
from app.operations import service as operations
from app.web.auth import provide_me, signed_in
from app.web.paging import api_window, next_cursor
from app.web.schemas import CurrencyQuery, Cursor, Limit, OptionalWord, answer, fields


async def _list(me: Principal, kind: str, account_id: uuid.UUID | None, status: str | None, limit: int | None,
                cursor: str | None) -> DocumentList:  # fmt: skip
    size, offset = api_window(limit, cursor)
    items, total, _ = await invoices.list_documents(
        me, kind=kind, account_id=account_id, status=status, limit=size, offset=offset
    )
    return answer(DocumentList, {"items": items, "next": next_cursor(size, offset, total)})


@get("/invoices", name="api_invoices")
async def list_invoices(
    me: NamedDependency[Principal],
    account_id: FromQuery[uuid.UUID | None] = None,
    status: OptionalWord = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> DocumentList:
    return await _list(me, "invoice", account_id, status, limit, cursor)


@get("/invoices/{invoice_id:uuid}", name="api_invoice")
async def get_invoice(me: NamedDependency[Principal], invoice_id: FromPath[uuid.UUID]) -> DocumentWithLines:
    return answer(DocumentWithLines, await invoices.get_document(me, invoice_id, "invoice"))


@get("/credit-notes", name="api_credit_notes")
async def list_credit_notes(
    me: NamedDependency[Principal],
    account_id: FromQuery[uuid.UUID | None] = None,
    status: OptionalWord = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> DocumentList:
    return await _list(me, "credit_note", account_id, status, limit, cursor)


@get("/credit-notes/{credit_note_id:uuid}", name="api_credit_note")
async def get_credit_note(me: NamedDependency[Principal], credit_note_id: FromPath[uuid.UUID]) -> DocumentWithLines:
    return answer(DocumentWithLines, await invoices.get_document(me, credit_note_id, "credit_note"))


async def _pdf(me: Principal, document_id: uuid.UUID) -> Response[bytes]:
    filename, content = await invoices.pdf(me, document_id)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


# A PDF is no JSON answer: OpenAPI documents the 200 as the file (application/pdf, binary) with its filename header.
PDF: dict[str, Any] = {
    "media_type": "application/pdf",
    "content_media_type": "application/pdf",
    "response_headers": [
        ResponseHeader(
            name="Content-Disposition",
            value="",  # documentation only: each answer sends its own filename
            description='attachment; filename="<number>.pdf"',
            documentation_only=True,
        )
    ],
}


@get("/invoices/{invoice_id:uuid}/pdf", name="api_invoice_pdf", response_description="The invoice as a PDF.", **PDF)
async def invoice_pdf(me: NamedDependency[Principal], invoice_id: FromPath[uuid.UUID]) -> Response[bytes]:
    await invoices.get_row(me, invoice_id, "invoice")
    return await _pdf(me, invoice_id)


@get(
    "/credit-notes/{credit_note_id:uuid}/pdf",
    name="api_credit_note_pdf",
    response_description="The credit note as a PDF.",
    **PDF,
)
async def credit_note_pdf(me: NamedDependency[Principal], credit_note_id: FromPath[uuid.UUID]) -> Response[bytes]:
    await invoices.get_row(me, credit_note_id, "credit_note")
    return await _pdf(me, credit_note_id)


@post("/invoices/{invoice_id:uuid}/payments", name="api_pay_invoice", status_code=201)
async def pay_invoice(
    me: NamedDependency[Principal],
    invoice_id: FromPath[uuid.UUID],
    data: PaymentBody,
    settings: NamedDependency[Settings],
) -> PaymentAnswer:
    return answer(PaymentAnswer, await payments.record_payment(me, invoice_id, fields(data), settings))


@get("/invoices/{invoice_id:uuid}/payments", name="api_invoice_payments")
async def invoice_payments(me: NamedDependency[Principal], invoice_id: FromPath[uuid.UUID]) -> PaymentList:
    await invoices.get_row(me, invoice_id)
    items = [payments.payment_json(p) for p in await invoices.payments(invoice_id)]
    return answer(PaymentList, {"items": items, "next": None})


@get("/accounts/{account_id:uuid}/charges", name="api_account_charges")
async def account_charges(
    me: NamedDependency[Principal],
    account_id: FromPath[uuid.UUID],
    uninvoiced: FromQuery[bool] = False,
    limit: Limit = None,
    cursor: Cursor = None,
) -> ChargeList:
    size, offset = api_window(limit, cursor, default=200)
    items, total = await billing.account_charges(me, account_id, uninvoiced=uninvoiced, limit=size, offset=offset)
    return answer(ChargeList, {"items": items, "next": next_cursor(size, offset, total)})


@get("/accounts/{account_id:uuid}/credit", name="api_account_credit")
async def get_credit(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> CreditAnswer:
    return answer(CreditAnswer, await options.credit_json(me, account_id))


@put("/accounts/{account_id:uuid}/credit", name="api_set_credit")
async def set_credit(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], data: CreditBody) -> CreditAnswer:
    return answer(CreditAnswer, await options.set_credit_limit(me, account_id, fields(data)))


@get("/accounts/{account_id:uuid}/billing-options", name="api_billing_options")
async def get_billing_options(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> BillingOptionsAnswer:
    account = await accounts.get_account(me, account_id)
    return answer(BillingOptionsAnswer, options.billing_options_json(account, await options.settings()))


@put("/accounts/{account_id:uuid}/billing-options", name="api_set_billing_options")
async def set_billing_options(
    me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], data: BillingOptionsBody
) -> BillingOptionsAnswer:
    return answer(BillingOptionsAnswer, await options.set_billing_options(me, account_id, fields(data)))


@put("/accounts/{account_id:uuid}/dunning-policy", name="api_set_account_dunning")
async def set_account_dunning(
    me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], data: DunningBody | None = None
) -> AccountDunningAnswer:
    """`null` (or no body) puts the account back on the CSP's default rules."""
    policy = None if data is None else fields(data)
    return answer(AccountDunningAnswer, await options.set_account_dunning(me, account_id, policy))


@get("/accounts/{account_id:uuid}/dunning-policy", name="api_account_dunning")
async def get_account_dunning(me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> AccountDunningAnswer:
    await accounts.get_account(me, account_id)
    return answer(AccountDunningAnswer, await options.account_terms_json(account_id))


def _csp(me: Principal) -> None:
    if me.role != "csp_admin":
        raise Forbidden("Only the CSP's admins see and change billing settings.")


@get("/billing/dunning-policy", name="api_dunning_policy")
async def get_dunning_policy(me: NamedDependency[Principal]) -> DunningAnswer:
    _csp(me)
    return answer(DunningAnswer, await options.default_dunning())


@put("/billing/dunning-policy", name="api_set_dunning_policy")
async def set_dunning_policy(me: NamedDependency[Principal], data: DunningBody) -> DunningAnswer:
    return answer(DunningAnswer, await options.set_default_dunning(me, fields(data)))


@get("/billing/tax-rates", name="api_tax_rates")
async def list_tax_rates(me: NamedDependency[Principal]) -> TaxRateList:
    _csp(me)
    return answer(TaxRateList, {"items": [options.tax_rate_json(r) for r in await options.tax_rates()], "next": None})


@put("/billing/tax-rates", name="api_set_tax_rate")
async def set_tax_rate(me: NamedDependency[Principal], data: TaxRateBody) -> TaxRateAnswer:
    return answer(TaxRateAnswer, options.tax_rate_json(await options.set_tax_rate(me, fields(data))))


@post("/billing/runs", name="api_billing_run", status_code=202)
async def start_run(me: NamedDependency[Principal], data: RunBody | None = None) -> RunStarted:
    operation = await runs.request_run(me, fields(data))
    return answer(RunStarted, {"operation": operations.operation_json(operation), "run_id": str(operation["id"])})


@get("/billing/runs/{run_id:uuid}", name="api_billing_run_status")
async def get_run(me: NamedDependency[Principal], run_id: FromPath[uuid.UUID]) -> RunAnswer:
    return answer(RunAnswer, await runs.get_run(me, run_id))


@get("/billing/deferred-revenue", name="api_deferred_revenue")
async def deferred_revenue(me: NamedDependency[Principal], currency: CurrencyQuery = None) -> DeferredRevenueList:
    _csp(me)
    items = await billing.deferred_revenue(currency.upper() if currency else None)
    return answer(DeferredRevenueList, {"items": items, "next": None})


router = Router(
    path="/",
    route_handlers=[
        list_invoices,
        get_invoice,
        list_credit_notes,
        get_credit_note,
        invoice_pdf,
        credit_note_pdf,
        pay_invoice,
        invoice_payments,
        account_charges,
        get_credit,
        set_credit,
        get_billing_options,
        set_billing_options,
        set_account_dunning,
        get_account_dunning,
        get_dunning_policy,
        set_dunning_policy,
        list_tax_rates,
        set_tax_rate,
        start_run,
        get_run,
        deferred_revenue,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    tags=["billing"],
)
