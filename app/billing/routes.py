"""Billing pages: invoices and credit notes (list, the document with its PDF, paying it), an account's billing
(credit and exposure, billing options, non-payment rules, saved cards, statement), and the CSP's billing desk
(runs, the seller on invoices, tax rates, the default non-payment rules, deferred revenue)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app import clock
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.billing import gateways, invoices, options, payments, runs
from app.billing import service as billing
from app.billing.forms import (
    ApplyCreditForm,
    CardForm,
    CreditForm,
    DunningForm,
    ManualPaymentForm,
    OptionsForm,
    RemoveCardForm,
    RunForm,
    SellerForm,
    TaxForm,
)
from app.config import Settings
from app.errors import AppError, Conflict, Invalid
from app.web.auth import csp_admin_only, provide_me, signed_in
from app.web.forms import Form, SearchText, errors_of, form_fields, parse_form
from app.web.paging import Page, page_number
from app.web.render import form_values, redirect, render

PAGE_SIZE = 25
KIND_PATHS = {"invoices": "invoice", "credit-notes": "credit_note"}


@get("/invoices", name="invoices_page")
async def invoices_page(
    request: Request,
    me: NamedDependency[Principal],
    kind: FromQuery[str] = "invoices",
    status: FromQuery[str] = "",
    q: SearchText = "",
    overdue: FromQuery[str] = "",
    account: FromQuery[uuid.UUID | None] = None,
    page: FromQuery[str] = "1",
) -> Response:
    number = page_number(page)
    kind = kind if kind in KIND_PATHS else "invoices"
    filters: dict[str, Any] = {
        "kind": kind,
        "status": status if status in invoices.STATUSES else "",
        "q": q.strip()[:100],
        "overdue": "1" if overdue else "",
        "account": account,
    }
    rows, total, totals = await invoices.list_documents(
        me,
        kind=KIND_PATHS[kind],
        account_id=account,
        status=filters["status"] or None,
        q=filters["q"] or None,
        overdue=bool(overdue),
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    billed_by_reseller = False
    if me.role == "customer_admin":
        own = await accounts.get_account(me, me.account_id)  # type: ignore[arg-type]
        billed_by_reseller = own["parent_id"] is not None
    context = {"documents": rows, "filters": filters, "page": Page(number, PAGE_SIZE, total), "totals": totals,
               "billed_by_reseller": billed_by_reseller, "today": clock.now().date()}  # fmt: skip
    return render(request, "billing/list.html", context, block="results")


async def _document_page(
    request: Request, me: Principal, settings: Settings, document_id: uuid.UUID, **extra: Any
) -> Response:
    row = await invoices.get_row(me, document_id)
    context = await invoices.document_context(row)
    cards = await payments.cards(row["account_id"]) if payments.may_pay(me, row["account_id"]) else []
    credits: list[dict] = []
    if me.role == "csp_admin" and row["kind"] == "invoice" and row["status"] in ("issued", "partially_paid"):
        credits, _, _ = await invoices.list_documents(me, kind="credit_note", account_id=row["account_id"],
                                                       status="issued", limit=20)  # fmt: skip
    context.update(
        payments=await invoices.payments(document_id),
        cards=cards,
        credits=[c for c in credits if c["currency"] == row["currency"]],
        may_pay_card=row["kind"] == "invoice" and payments.may_pay(me, row["account_id"]),
        gateway=gateways.gateway_for(settings),
        sandbox_cards=gateways.SANDBOX_CARDS if settings.is_sandbox else {},
        stripe_key=settings.stripe_publishable_key or "",
        open_balance=await payments._open_balance(row),
        today=clock.now().date(),
    )
    context.update({"values": {}, "errors": {}, **extra})
    return render(
        request, "billing/invoice.html", context, block="pay", status_code=422 if extra.get("errors") else 200
    )


@get("/invoices/{document_id:uuid}", name="invoice_page")
async def invoice_page(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    document_id: FromPath[uuid.UUID],
) -> Response:
    return await _document_page(request, me, settings, document_id)


@get("/invoices/{document_id:uuid}/pdf", name="invoice_pdf")
async def invoice_pdf(me: NamedDependency[Principal], document_id: FromPath[uuid.UUID]) -> Response:
    filename, content = await invoices.pdf(me, document_id)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})  # fmt: skip


async def _pay_refused(request: Request, me: Principal, settings: Settings, document_id: uuid.UUID, error: AppError,
                       values: dict) -> Response:  # fmt: skip
    errors = errors_of(error)
    return await _document_page(request, me, settings, document_id, errors=errors, values=values)


@post("/invoices/{document_id:uuid}/pay", name="invoice_pay")
async def invoice_pay(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    document_id: FromPath[uuid.UUID],
) -> Response:
    """Pay by card: a saved card, or a new one typed in (sandbox) and saved to the account's profile first."""
    raw = await form_values(request)
    new_card = None
    try:
        values = form_fields(parse_form(raw, CardForm))  # the amount too: a card is saved only for a payment
        card_id = values.get("payment_method_id") or None
        typed = (values.get("number") or values.get("payment_method") or "").strip()
        if card_id in (None, "new") or typed:  # a card typed in is the one meant, whichever radio is checked
            row = await invoices.get_row(me, document_id)
            await payments.check_amount(row, values.get("amount", ""))
            new_card = await payments.save_card(me, row["account_id"], values, settings)
            card_id = str(new_card["id"])
        payment = await payments.record_payment(
            me, document_id, {"method": "card", "amount": values.get("amount", ""), "payment_method_id": card_id},
            settings,
        )  # fmt: skip
    except (Invalid, Conflict) as error:  # a refusal shown beside the form; 403 and 404 stay what they are
        if new_card is not None:  # the payment was refused: the card typed in for it is not kept either
            await payments.remove_card(me, new_card["account_id"], new_card["id"])
        return await _pay_refused(request, me, settings, document_id, error, raw)
    if new_card is not None and payment["status"] == "failed":  # nor is a card that was declined
        await payments.remove_card(me, new_card["account_id"], new_card["id"])
    outcome = {"succeeded": "paid", "pending": "pending", "failed": "declined"}[payment["status"]]
    return redirect(request, request.url_for("invoice_page", document_id=document_id) + f"?payment={outcome}")


@post("/invoices/{document_id:uuid}/manual-payment", name="invoice_manual_payment", guards=[csp_admin_only])
async def invoice_manual_payment(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    document_id: FromPath[uuid.UUID],
) -> Response:
    raw = await form_values(request)
    try:
        values = form_fields(parse_form(raw, ManualPaymentForm))
        await payments.record_payment(me, document_id, {"method": "manual", "amount": values.get("amount", ""),
                                      "reference": values.get("reference", ""),
                                      "received_on": values.get("received_on") or None}, settings)  # fmt: skip
    except (Invalid, Conflict) as error:  # a refusal shown beside the form; 403 and 404 stay what they are
        return await _pay_refused(request, me, settings, document_id, error, raw)
    return redirect(request, request.url_for("invoice_page", document_id=document_id) + "?payment=recorded")


@post("/invoices/{document_id:uuid}/apply-credit", name="invoice_apply_credit", guards=[csp_admin_only])
async def invoice_apply_credit(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    document_id: FromPath[uuid.UUID],
) -> Response:
    values = await form_values(request)
    try:
        chosen = form_fields(parse_form(values, ApplyCreditForm)).get("credit_note_id", "")
        await payments.apply_credit(me, uuid.UUID(chosen), document_id)
    except (Invalid, Conflict, ValueError) as error:
        refusal = error if isinstance(error, AppError) else Invalid({"credit_note_id": "Pick a credit note."})
        return await _pay_refused(request, me, settings, document_id, refusal, values)
    return redirect(request, request.url_for("invoice_page", document_id=document_id) + "?payment=credited")


# --- An account's billing --------------------------------------------------------------------------------------


async def _account_page(request: Request, me: Principal, settings: Settings, account_id: uuid.UUID,
                        **extra: Any) -> Response:  # fmt: skip
    account = await accounts.get_account(me, account_id)
    defaults = await options.settings()
    bill_to = account["kind"] == "reseller" or account["parent_id"] is None
    context = {
        "account": account,
        "bill_to": bill_to,
        "credit": await options.credit_json(me, account_id) if bill_to else None,
        "billing": options.billing_options_json(account, defaults),
        "terms": await options.terms_of(account, defaults),
        "cards": await payments.cards(account_id) if payments.may_pay(me, account_id) else [],
        "may_manage_cards": payments.may_pay(me, account_id),
        "gateway": gateways.gateway_for(settings),
        "sandbox_cards": gateways.SANDBOX_CARDS if settings.is_sandbox else {},
        "stripe_key": settings.stripe_publishable_key or "",
        "today": clock.now().date(),
        "open": (await invoices.list_documents(me, kind="invoice", account_id=account_id, limit=10))[0]
        if bill_to
        else [],
        "errors": {},
        "values": {},
        "saved": request.query_params.get("saved", ""),
        **extra,
    }
    return render(request, "billing/account.html", context, status_code=422 if extra.get("errors") else 200)


@get("/accounts/{account_id:uuid}/billing", name="account_billing")
async def account_billing(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    account_id: FromPath[uuid.UUID],
) -> Response:
    return await _account_page(request, me, settings, account_id)


def _form_action(name: str) -> Any:
    """A POST on the account's billing page: the service call, then back to the page (or the page with errors)."""

    async def handler(
        request: Request,
        me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        account_id: FromPath[uuid.UUID],
    ) -> Response:
        form = await request.form()
        values: dict[str, Any] = {k: v for k, v in form.items() if k != "_csrf_token"}
        values["billing_plans"] = form.getall("billing_plans") if "billing_plans" in form else []
        try:
            typed = form_fields(parse_form(values, ACCOUNT_FORMS[name]))
            await ACCOUNT_ACTIONS[name](me, account_id, {"billing_plans": [], **typed}, settings)
        except (Invalid, Conflict) as error:
            errors = errors_of(error)
            return await _account_page(request, me, settings, account_id, errors={name: errors}, values={name: values})
        return redirect(request, request.url_for("account_billing", account_id=account_id) + f"?saved={name}")

    return handler


async def _credit(me: Principal, account_id: uuid.UUID, values: dict, settings: Settings) -> None:
    raw = values.get("credit_limit", "").strip()
    await options.set_credit_limit(me, account_id, {"credit_limit": raw or None})


async def _options(me: Principal, account_id: uuid.UUID, values: dict, settings: Settings) -> None:
    def whole(field: str) -> Any:
        raw = values.get(field, "").strip()
        return int(raw) if raw.isdigit() else raw

    body = {
        "billing_plans": values["billing_plans"],
        "monthly_surcharge_percent": values.get("monthly_surcharge_percent", ""),
        "payment_terms_days": whole("payment_terms_days"),
        "billing_day": whole("billing_day"),
        "auto_pay": values.get("auto_pay") == "on",
        "tax_id": values.get("tax_id", ""),
    }
    await options.set_billing_options(me, account_id, body)


async def _dunning(me: Principal, account_id: uuid.UUID, values: dict, settings: Settings) -> None:
    if values.get("use_default") == "on":
        await options.set_account_dunning(me, account_id, None)
        return
    await options.set_account_dunning(me, account_id, _policy_form(values))


def _policy_form(values: dict) -> dict:
    raw = [part.strip() for part in values.get("reminder_days", "").split(",") if part.strip()]
    suspend = values.get("suspend_after_days", "").strip()
    return {
        "reminder_days": [int(p) if p.isdigit() else p for p in raw],
        "suspend_after_days": int(suspend) if suspend.isdigit() else suspend,
    }


async def _add_card(me: Principal, account_id: uuid.UUID, values: dict, settings: Settings) -> None:
    await payments.save_card(me, account_id, values, settings)


async def _remove_card(me: Principal, account_id: uuid.UUID, values: dict, settings: Settings) -> None:
    try:
        card_id = uuid.UUID(values.get("card_id", ""))
    except ValueError:
        raise Invalid({"card_id": "Pick a card."}) from None
    await payments.remove_card(me, account_id, card_id)


ACCOUNT_ACTIONS = {"credit": _credit, "options": _options, "dunning": _dunning, "card": _add_card,
                   "remove_card": _remove_card}  # fmt: skip
ACCOUNT_FORMS: dict[str, type[Form]] = {"credit": CreditForm, "options": OptionsForm, "dunning": DunningForm,
                                        "card": CardForm, "remove_card": RemoveCardForm}  # fmt: skip
account_posts = [
    post(f"/accounts/{{account_id:uuid}}/billing/{name.replace('_', '-')}", name=f"account_billing_{name}")(
        _form_action(name)
    )
    for name in ACCOUNT_ACTIONS
]


@get("/accounts/{account_id:uuid}/statement", name="account_statement")
async def account_statement(
    request: Request, me: NamedDependency[Principal], account_id: FromPath[uuid.UUID], since: FromQuery[str] = ""
) -> Response:
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        start = None
    context = await invoices.statement(me, account_id, start)
    return render(request, "billing/statement.html", {**context, "since_value": since})


# --- The CSP's billing desk ------------------------------------------------------------------------------------


async def _desk(request: Request, me: Principal, **extra: Any) -> Response:
    context = {
        "runs": await runs.list_runs(),
        "seller": await options.settings(),
        "tax_rates": await options.tax_rates(),
        "dunning": await options.default_dunning(),
        "today": clock.now().date(),
        "errors": {},
        "values": {},
        "saved": request.query_params.get("saved", ""),
        **extra,
    }
    return render(request, "billing/desk.html", context, status_code=422 if extra.get("errors") else 200)


@get("/billing", name="billing_desk", guards=[csp_admin_only])
async def billing_desk(request: Request, me: NamedDependency[Principal]) -> Response:
    return await _desk(request, me)


async def _desk_run(me: Principal, values: dict) -> None:
    await runs.request_run(me, {"as_of": values.get("as_of") or None})


async def _desk_seller(me: Principal, values: dict) -> None:
    await options.update_seller(me, values)


async def _desk_tax(me: Principal, values: dict) -> None:
    if values.get("remove"):
        await options.delete_tax_rate(me, values["remove"])
        return
    await options.set_tax_rate(me, {**values, "reverse_charge": values.get("reverse_charge") == "on"})


async def _desk_dunning(me: Principal, values: dict) -> None:
    await options.set_default_dunning(me, _policy_form(values))


DESK_ACTIONS = {"run": _desk_run, "seller": _desk_seller, "tax": _desk_tax, "dunning": _desk_dunning}
DESK_FORMS: dict[str, type[Form]] = {"run": RunForm, "seller": SellerForm, "tax": TaxForm, "dunning": DunningForm}


def _desk_action(name: str) -> Any:
    async def handler(request: Request, me: NamedDependency[Principal]) -> Response:
        values = await form_values(request)
        try:
            await DESK_ACTIONS[name](me, form_fields(parse_form(values, DESK_FORMS[name])))
        except (Invalid, Conflict) as error:
            errors = errors_of(error)
            return await _desk(request, me, errors={name: errors}, values={name: values})
        return redirect(request, request.url_for("billing_desk") + f"?saved={name}")

    return handler


desk_posts = [
    post(f"/billing/{name}", name=f"billing_desk_{name}", guards=[csp_admin_only])(_desk_action(name))
    for name in DESK_ACTIONS
]


@get("/billing/deferred-revenue", name="deferred_revenue", guards=[csp_admin_only])
async def deferred_revenue(request: Request, currency: SearchText = "") -> Response:
    items = await billing.deferred_revenue(currency.upper() if len(currency) == 3 else None)
    return render(request, "billing/deferred.html", {"items": items, "currency": currency.upper()})


router = Router(
    path="/",
    route_handlers=[
        invoices_page,
        invoice_page,
        invoice_pdf,
        invoice_pay,
        invoice_manual_payment,
        invoice_apply_credit,
        account_billing,
        *account_posts,
        account_statement,
        billing_desk,
        *desk_posts,
        deferred_revenue,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,
)
