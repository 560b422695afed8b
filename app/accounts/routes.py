"""Account pages: list with search-as-you-type, create/edit forms with inline validation, users, MCA."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.accounts import rules, service, tenants
from app.accounts.address_rules import COUNTRY_CODES, CURRENCY_CODES, country_name
from app.accounts.forms import AccountForm, ActiveForm, InviteForm, McaForm, QualificationForm
from app.accounts.rules import Principal
from app.audit import service as audit
from app.config import Settings
from app.errors import Conflict, Forbidden, Invalid
from app.web.auth import provide_me, signed_in
from app.web.forms import SearchText, form_fields, parse_form, read_form
from app.web.paging import Page, page_number
from app.web.render import form_values, redirect, render

PAGE_SIZE = 20
COUNTRY_CHOICES = sorted(((c, country_name(c)) for c in COUNTRY_CODES), key=lambda item: item[1])
CURRENCY_CHOICES = sorted(CURRENCY_CODES)


@get("/accounts", name="accounts")
async def accounts_page(
    request: Request,
    me: NamedDependency[Principal],
    q: SearchText = "",
    kind: FromQuery[str] = "",
    page: FromQuery[str] = "1",
) -> Response:
    kind = kind if kind in ("reseller", "customer") else ""
    number = page_number(page)
    rows, total = await service.list_accounts(
        me, kind=kind or None, q=q, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    return render(
        request,
        "accounts/list.html",
        {"accounts": rows, "q": q, "kind": kind, "page": Page(number, PAGE_SIZE, total)},
        block="accounts_table",
    )


def _form_context(
    me: NamedDependency[Principal],
    kind: str,
    values: dict,
    errors: dict,
    resellers: list,
    account: dict | None = None,
) -> dict:
    values = {k: ("" if v is None else str(v)) for k, v in values.items()}
    return {
        "kind": kind,
        "values": values,
        "errors": errors,
        "resellers": resellers,
        "account": account,
        "qualifications": rules.QUALIFICATIONS,
        "countries": COUNTRY_CHOICES,
        "currencies": CURRENCY_CHOICES,
    }


@get("/accounts/new", name="account_new")
async def account_new(request: Request, me: NamedDependency[Principal], kind: FromQuery[str] = "customer") -> Response:
    kind = "reseller" if kind == "reseller" else "customer"
    if (kind == "reseller" and not rules.may_create_reseller(me)) or (
        kind == "customer" and me.role == "customer_admin"
    ):
        raise Forbidden("Your role cannot add this kind of account.")
    resellers = await service.resellers_for_choice(me) if me.role == "csp_admin" else []
    defaults = {"country": "US", "currency": "USD"}
    return render(request, "accounts/form.html", _form_context(me, kind, defaults, {}, resellers))


@post("/accounts", name="account_create")
async def account_create(request: Request, me: NamedDependency[Principal]) -> Response:
    data = await form_values(request)
    kind = data.pop("kind", "customer")
    try:
        data = form_fields(parse_form(data, AccountForm))
        if kind == "reseller":
            account = await service.create_reseller(me, data)
        else:
            account = await service.create_customer(me, data)
    except Invalid as exc:
        resellers = await service.resellers_for_choice(me) if me.role == "csp_admin" else []
        return render(
            request,
            "accounts/form.html",
            _form_context(me, kind, data, exc.errors, resellers),
            block="account_form",
            status_code=422,
        )
    return redirect(request, request.url_for("account_detail", account_id=account["id"]) + "?created=1")


@post("/accounts/validate", name="account_validate_field")
async def account_validate_field(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings], field: FromQuery[str]
) -> Response:
    """Inline validation: the message for one field of the form, as the person fills it in."""
    try:
        data = form_fields(await read_form(request, AccountForm))
    except Invalid as refused:  # what no person types: said beside the field it is in
        message = refused.errors.get(field) or refused.message
        return render(request, "accounts/form.html", {"field": field, "message": message}, block="field_error",
                      force_block=True)  # fmt: skip
    kind: rules.AccountKind = "reseller" if data.get("kind") == "reseller" else "customer"
    current_country = data.get("country")
    if data.get("account_id"):
        try:
            account_id = uuid.UUID(data["account_id"])
        except ValueError:  # the form's hidden field is ours: anything else was not sent by the page
            raise Invalid({"account_id": "This is not an account of yours."}) from None
        current_country = (await service.get_account(me, account_id))["country"]
    cleaned, errors = rules.clean_account({**data, "_current_country": current_country}, kind, partial=True)
    message = errors.get(field, "")
    if field == "tenant_domain" and not message and cleaned.get("tenant_domain"):
        message = await service.tenant_domain_problem(settings, cleaned["tenant_domain"])
    return render(
        request,
        "accounts/form.html",
        {"field": field, "message": message},
        block="field_error",
        force_block=True,
    )


@get("/accounts/{account_id:uuid}", name="account_detail")
async def account_detail(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    account_id: FromPath[uuid.UUID],
    created: FromQuery[str] = "",
) -> Response:
    context = await _detail_context(me, settings, account_id, created=bool(created))
    return render(request, "accounts/detail.html", context)


async def _detail_context(me: Principal, settings: Settings, account_id: uuid.UUID, **extra: object) -> dict:
    """Everything the account's page shows; `extra` is a card's state after a step (its values, its errors)."""
    account = await service.get_account(me, account_id)
    return {
        "gdap_link": tenants.approval_link(settings, account["gdap_relationship_id"])
        if account["gdap_relationship_id"]
        else "",
        "gdap_error": "",
        "tenant_managed": await tenants.managed_by_csp(account_id),
        "qualification_error": "",
        "qualification_errors": {},
        "qualification_values": {},
        "account": account,
        "users": await service.list_users(me, account_id),
        "parent": await service.get_account(me, account["parent_id"])
        if account["parent_id"] and rules.can_see(me, rules.AccountRef(account["parent_id"], "reseller", None))
        else None,
        "customers": (await service.list_accounts(me, kind="customer", parent_id=account_id, limit=100))[0]
        if account["kind"] == "reseller"
        else [],
        "mca": await service.latest_mca(account_id) if account["kind"] == "customer" else None,
        "events": await audit.history("account", account_id, limit=15),
        "created": False,
        "invite_values": {},
        "invite_errors": {},
        "mca_errors": {},
        "mca_values": {},
        "role_labels": rules.ROLE_LABELS,
        **extra,
    }


async def _card(
    request: Request,
    me: Principal,
    settings: Settings,
    account_id: uuid.UUID,
    block: str,
    status_code: int = 200,
    **extra: object,
) -> Response:
    """One card of the account's page after a step: the card alone for htmx, else the whole page around it (a
    plain form post, e.g. without JavaScript, gets a page, never a fragment)."""
    context = await _detail_context(me, settings, account_id, **extra)
    return render(request, "accounts/detail.html", context, block=block, status_code=status_code)


@get("/accounts/{account_id:uuid}/edit", name="account_edit")
async def account_edit(request: Request, me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> Response:
    account = await service.get_account(me, account_id)
    return render(request, "accounts/form.html", _form_context(me, account["kind"], account, {}, [], account))


@post("/accounts/{account_id:uuid}", name="account_update")
async def account_update(request: Request, me: NamedDependency[Principal], account_id: FromPath[uuid.UUID]) -> Response:
    data = {k: v for k, v in (await form_values(request)).items() if k in service.EDITABLE_FIELDS}
    try:
        await service.update_account(me, account_id, form_fields(parse_form(data, AccountForm)))
    except Invalid as exc:
        account = await service.get_account(me, account_id)
        return render(
            request,
            "accounts/form.html",
            _form_context(me, account["kind"], {**account, **data}, exc.errors, [], account),
            block="account_form",
            status_code=422,
        )
    return redirect(request, request.url_for("account_detail", account_id=account_id))


async def _users_block(
    request: Request, me: Principal, settings: Settings, account_id: uuid.UUID, **extra: object
) -> Response:
    status = 422 if extra.get("invite_errors") else 200
    return await _card(request, me, settings, account_id, "users", status, **extra)


@post("/accounts/{account_id:uuid}/users", name="user_invite")
async def user_invite(
    request: Request,
    me: NamedDependency[Principal],
    account_id: FromPath[uuid.UUID],
    settings: NamedDependency[Settings],
) -> Response:
    data = await form_values(request)
    try:
        invited = form_fields(parse_form(data, InviteForm))
        user, _ = await service.invite_user(me, account_id, invited, settings.base_url)
    except Invalid as exc:
        return await _users_block(request, me, settings, account_id, invite_values=data, invite_errors=exc.errors)
    if not request.headers.get("hx-request"):
        return redirect(request, request.url_for("account_detail", account_id=account_id))
    return await _users_block(request, me, settings, account_id, notice=f"Invitation sent to {user['email']}.")


@post("/users/{user_id:uuid}/active", name="user_set_active")
async def user_set_active(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings], user_id: FromPath[uuid.UUID]
) -> Response:
    active = (await read_form(request, ActiveForm)).active == "true"
    user = await service.set_user_active(me, user_id, active)
    verb = "reactivated" if active else "deactivated"
    if not request.headers.get("hx-request"):
        return redirect(request, request.url_for("account_detail", account_id=user["account_id"]))
    return await _users_block(request, me, settings, user["account_id"], notice=f"{user['name']} {verb}.")


@post("/accounts/{account_id:uuid}/mca", name="account_mca")
async def account_mca(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    account_id: FromPath[uuid.UUID],
) -> Response:
    data = await form_values(request)
    await service.get_account(me, account_id)
    try:
        await service.record_mca_acceptance(me, account_id, form_fields(parse_form(data, McaForm)))
    except Invalid as exc:
        return await _card(request, me, settings, account_id, "mca", 422, mca=None, mca_values=data,
                           mca_errors=exc.errors)  # fmt: skip
    return redirect(request, request.url_for("account_detail", account_id=account_id))


async def _tenant_card(
    request: Request,
    me: Principal,
    settings: Settings,
    account_id: uuid.UUID,
    block: str,
    refused: Conflict | Invalid | None = None,
    values: dict | None = None,
) -> Response:
    """The GDAP or qualification card of a customer's page, after a step (with the refusal, if any)."""
    return await _card(
        request,
        me,
        settings,
        account_id,
        block,
        refused.status_code if refused else 200,
        gdap_error=refused.message if refused and block == "gdap" else "",
        qualification_error=refused.message if isinstance(refused, Conflict) and block == "qualification" else "",
        qualification_errors=refused.errors if isinstance(refused, Invalid) else {},
        qualification_values=values or {},
    )


@post("/accounts/{account_id:uuid}/gdap", name="account_gdap_request")
async def account_gdap_request(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    account_id: FromPath[uuid.UUID],
) -> Response:
    return await _tenant_step(request, me, settings, account_id, "gdap", tenants.request_gdap)


@post("/accounts/{account_id:uuid}/gdap/refresh", name="account_gdap_refresh")
async def account_gdap_refresh(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    account_id: FromPath[uuid.UUID],
) -> Response:
    return await _tenant_step(request, me, settings, account_id, "gdap", tenants.refresh_gdap)


@post("/accounts/{account_id:uuid}/qualification", name="account_qualification_request")
async def account_qualification_request(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    account_id: FromPath[uuid.UUID],
) -> Response:
    values = await form_values(request)

    async def ask(me: Principal, settings: Settings, account_id: uuid.UUID) -> str:
        return await tenants.request_qualification(
            me, settings, account_id, form_fields(parse_form(values, QualificationForm))
        )

    return await _tenant_step(request, me, settings, account_id, "qualification", ask, values)


@post("/accounts/{account_id:uuid}/qualification/refresh", name="account_qualification_refresh")
async def account_qualification_refresh(
    request: Request,
    me: NamedDependency[Principal],
    settings: NamedDependency[Settings],
    account_id: FromPath[uuid.UUID],
) -> Response:
    return await _tenant_step(request, me, settings, account_id, "qualification", tenants.refresh_qualification)


async def _tenant_step(
    request: Request,
    me: Principal,
    settings: Settings,
    account_id: uuid.UUID,
    block: str,
    step: Callable[[Principal, Settings, uuid.UUID], Awaitable[str]],
    values: dict | None = None,
) -> Response:
    try:
        await step(me, settings, account_id)
    except (Conflict, Invalid) as refused:
        return await _tenant_card(request, me, settings, account_id, block, refused, values)
    return await _tenant_card(request, me, settings, account_id, block)


router = Router(
    path="/",
    route_handlers=[
        accounts_page,
        account_new,
        account_create,
        account_validate_field,
        account_detail,
        account_edit,
        account_update,
        user_invite,
        user_set_active,
        account_mca,
        account_gdap_request,
        account_gdap_refresh,
        account_qualification_request,
        account_qualification_refresh,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,
)
