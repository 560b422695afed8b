"""The async Partner Center client: the only way Cloudseat talks to Microsoft (or to the sandbox).

Retries follow Microsoft's guidance (facts 2.2-2.3): 429 waits for Retry-After, 5xx and timeouts back off
exponentially with jitter, 4xx business errors are never retried. One logical write keeps the same
MS-RequestId on every retry so Partner Center applies it once; each operation gets a new MS-CorrelationId.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
import msgspec

from app.partner_center import models as m
from app.partner_center.auth import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, PRICING_SCOPE
from app.partner_center.errors import NotFoundError, PartnerCenterError, ServiceError, ThrottledError, error_for

log = logging.getLogger(__name__)
M = TypeVar("M", bound=m.PcModel)
_jitter = random.SystemRandom()
GRAPH_API = "https://graph.microsoft.com"
PRICING_API = "https://api.partner.microsoft.com"
ADMIN_CENTER = "https://admin.microsoft.com"


class TokenProvider(Protocol):
    async def access_token(self, scope: str = PARTNER_CENTER_SCOPE) -> str: ...


def audience(url: str) -> str:
    """The token scope a URL needs: Microsoft tells the audiences apart by path as much as by host."""
    if "/v1.0/sales/pricesheets" in url:
        return PRICING_SCOPE
    if "/v1.0/tenantRelationships/" in url:
        return GRAPH_SCOPE
    return PARTNER_CENTER_SCOPE


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.25
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to base * 2^attempt, capped."""
        return _jitter.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class PartnerCenterClient:
    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        application: str = "Cloudseat",
        pricing_base: str | None = None,
        graph_base: str | None = None,
    ) -> None:
        """Live: `pricing_base` PRICING_API and `graph_base` GRAPH_API, Microsoft's other hosts; the sandbox
        serves their paths at its own address, the default."""
        self.base_url = base_url.rstrip("/")
        self.pricing_base = (pricing_base or base_url).rstrip("/")
        self.graph_base = (graph_base or base_url).rstrip("/")
        self.tokens = tokens
        self.http = http or httpx.AsyncClient(timeout=timeout)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.application = application

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        headers: dict[str, str] | None = None,
        request_id: str | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One logical call with retries. Pass `request_id` to make a write idempotent across process restarts
        (a job stores it); otherwise a new one is made for this call and reused by its retries."""
        request_id = request_id or str(uuid.uuid4())
        correlation_id = str(uuid.uuid4())
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        scope = audience(url)
        for attempt in range(self.retry.max_attempts):
            sent_headers = {
                "Authorization": f"Bearer {await self.tokens.access_token(scope)}",
                "Accept": "application/json",
                "MS-RequestId": request_id,
                "MS-CorrelationId": correlation_id,
                "MS-Contract-Version": "v1",
                "MS-PartnerCenter-Application": self.application,
                "X-Locale": "en-US",
                **(headers or {}),
            }
            last = attempt == self.retry.max_attempts - 1
            try:
                built = self.http.build_request(method, url, json=json, params=params, headers=sent_headers)
                response = await self.http.send(built, stream=stream)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    raise ServiceError(
                        0,
                        None,
                        f"Partner Center did not answer: {exc!r}",
                        request_id=request_id,
                        correlation_id=correlation_id,
                    ) from exc
                await self.sleep(self.retry.backoff(attempt))
                continue
            if response.status_code < 400:
                return response
            if stream:
                await response.aread()
            error = error_for(response.status_code, _body(response), request_id, correlation_id, _retry_after(response))
            if not error.retryable or last:
                raise error
            delay = self.retry.backoff(attempt)
            if isinstance(error, ThrottledError) and error.retry_after is not None:
                delay = min(error.retry_after, self.retry.max_retry_after) + _jitter.uniform(0, self.retry.base_delay)
            log.info(
                "Partner Center %s %s answered %s; retry %d in %.2fs",
                method,
                path,
                response.status_code,
                attempt + 1,
                delay,
            )
            await self.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def get_json(self, path: str, **params: Any) -> Any:
        response = await self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
        return response.json()

    async def send_json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        response = await self.request(method, path, json=body, request_id=request_id, headers=headers)
        return response.json() if response.content else None

    async def pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[dict]:
        """Every item of a list paged with seekOperation=Next and MS-ContinuationToken (facts 1)."""
        body = (await self.request("GET", path, params=params)).json()
        while True:
            for item in body.get("items", []):
                yield item
            token = body.get("continuationToken")
            if not token:
                return
            response = await self.request(
                "GET", path, params={**params, "seekOperation": "Next"}, headers={"MS-ContinuationToken": token}
            )
            body = response.json()

    async def _get(self, model: type[M], path: str, **params: Any) -> M:
        response = await self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
        return m.decode(model, response.content)

    async def _items(self, model: type[M], path: str, **params: Any) -> list[M]:
        response = await self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
        return m.decode(m.ResourceCollection[model], response.content).items  # type: ignore[valid-type]

    async def _send(
        self,
        model: type[M],
        method: str,
        path: str,
        body: Any = None,
        *,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> M:
        payload = msgspec.json.decode(m.encode(body)) if isinstance(body, m.PcModel) else body
        response = await self.request(method, path, json=payload, request_id=request_id, headers=headers)
        return m.decode(model, response.content)

    async def _paged(self, model: type[M], path: str, params: dict[str, Any]) -> AsyncIterator[M]:
        async for item in self.pages(path, params):
            yield m.decode(model, item)

    # --- Catalog and price sheets ----------------------------------------------------------------------

    async def products(
        self, country: str, target_view: str = "OnlineServices", segment: str | None = None
    ) -> list[m.Product]:
        return await self._items(
            m.Product, "/v1/products", country=country, targetView=target_view, targetSegment=segment
        )

    async def skus(self, product_id: str, country: str, segment: str | None = None) -> list[m.Sku]:
        return await self._items(m.Sku, f"/v1/products/{product_id}/skus", country=country, targetSegment=segment)

    async def availabilities(
        self, product_id: str, sku_id: str, country: str, segment: str | None = None
    ) -> list[m.Availability]:
        return await self._items(
            m.Availability,
            f"/v1/products/{product_id}/skus/{sku_id}/availabilities",
            country=country,
            targetSegment=segment,
        )

    async def price_sheet_lines(self, market: str, *, timeline: str = "current") -> AsyncIterator[str]:
        """The NCE license-based price sheet of a market, streamed line by line (facts 5.1: app+user only;
        Microsoft serves it from api.partner.microsoft.com, the sandbox from its own address)."""
        response = await self._price_sheet(market, timeline)
        try:
            async for line in response.aiter_lines():
                yield line
        finally:
            await response.aclose()

    async def price_sheet_bytes(self, market: str, *, timeline: str = "current") -> AsyncIterator[bytes]:
        """The same sheet as raw CSV chunks, for COPY straight into PostgreSQL."""
        response = await self._price_sheet(market, timeline)
        try:
            async for chunk in response.aiter_bytes(1 << 20):
                yield chunk
        finally:
            await response.aclose()

    async def _price_sheet(self, market: str, timeline: str) -> httpx.Response:
        url = (
            f"{self.pricing_base}/v1.0/sales/pricesheets(Market='{market}',PricesheetView='updatedlicensebased')/$value"
        )
        return await self.request(
            "GET", url, params={"timeline": timeline}, stream=True, headers={"Accept": "text/csv"}
        )

    # --- Customers and agreements --------------------------------------------------------------------

    async def create_customer(self, body: dict | m.Customer, *, request_id: str | None = None) -> m.Customer:
        return await self._send(m.Customer, "POST", "/v1/customers", body, request_id=request_id)

    async def get_customer(self, customer_id: str) -> m.Customer:
        return await self._get(m.Customer, f"/v1/customers/{customer_id}")

    def list_customers(self, size: int = 100) -> AsyncIterator[m.Customer]:
        return self._paged(m.Customer, "/v1/customers", {"size": size})

    async def validate_address(self, address: dict) -> m.AddressValidationResponse:
        return await self._send(m.AddressValidationResponse, "POST", "/v1/validations/address", address)

    async def qualifications(self, customer_id: str) -> list[m.CustomerQualification]:
        response = await self.request("GET", f"/v1/customers/{customer_id}/qualifications")
        return m.decode(list[m.CustomerQualification], response.content)

    async def add_qualification(
        self, customer_id: str, body: dict, *, validation_code: str | None = None, request_id: str | None = None
    ) -> m.CustomerQualification:
        path = f"/v1/customers/{customer_id}/qualifications"
        if validation_code:
            path += f"?code={validation_code}"
        return await self._send(m.CustomerQualification, "POST", path, body, request_id=request_id)

    async def promotions(self, country: str, segment: str = "commercial") -> list[m.ProductPromotion]:
        return await self._items(m.ProductPromotion, "/v1/productpromotions", country=country, segment=segment)

    async def promotion_eligibilities(self, customer_id: str, items: list[dict]) -> list[m.PromotionEligibilityItem]:
        response = await self.request(
            "POST", f"/v1/customers/{customer_id}/promotionEligibilities", json={"items": items}
        )
        return m.decode(m.ResourceCollection[m.PromotionEligibilityItem], response.content).items

    async def agreement_metadata(self) -> m.AgreementMetaData:
        items = await self._items(m.AgreementMetaData, "/v1/agreements", agreementType="MicrosoftCustomerAgreement")
        return items[0]

    async def attest_agreement(
        self, customer_id: str, body: dict | m.Agreement, *, request_id: str | None = None
    ) -> m.Agreement:
        return await self._send(
            m.Agreement, "POST", f"/v1/customers/{customer_id}/agreements", body, request_id=request_id
        )

    async def list_agreements(self, customer_id: str) -> list[m.Agreement]:
        return await self._items(
            m.Agreement, f"/v1/customers/{customer_id}/agreements", agreementType="MicrosoftCustomerAgreement"
        )

    # --- Carts, orders -------------------------------------------------------------------------------

    async def create_cart(self, customer_id: str, body: dict | m.Cart, *, request_id: str | None = None) -> m.Cart:
        return await self._send(m.Cart, "POST", f"/v1/customers/{customer_id}/carts", body, request_id=request_id)

    async def checkout(self, customer_id: str, cart_id: str, *, request_id: str | None = None) -> m.CartCheckoutResult:
        return await self._send(
            m.CartCheckoutResult, "POST", f"/v1/customers/{customer_id}/carts/{cart_id}/checkout", request_id=request_id
        )

    async def get_order(self, customer_id: str, order_id: str) -> m.Order:
        return await self._get(m.Order, f"/v1/customers/{customer_id}/orders/{order_id}")

    async def list_orders(self, customer_id: str) -> list[m.Order]:
        return await self._items(m.Order, f"/v1/customers/{customer_id}/orders")

    async def order_provisioning_status(
        self, customer_id: str, order_id: str
    ) -> list[m.OrderLineItemProvisioningStatus]:
        return await self._items(
            m.OrderLineItemProvisioningStatus, f"/v1/customers/{customer_id}/orders/{order_id}/provisioningstatus"
        )

    # --- Subscriptions -------------------------------------------------------------------------------

    async def list_subscriptions(self, customer_id: str, order_id: str | None = None) -> list[m.Subscription]:
        return await self._items(m.Subscription, f"/v1/customers/{customer_id}/subscriptions", order_id=order_id)

    async def custom_term_end_dates(self, customer_id: str, term_duration: str) -> list[m.CustomTermEndDate]:
        return await self._items(
            m.CustomTermEndDate,
            f"/v1/customers/{customer_id}/subscriptions/customTermEndDates",
            term_duration=term_duration,
        )

    async def get_subscription(self, customer_id: str, subscription_id: str) -> m.Subscription:
        return await self._get(m.Subscription, f"/v1/customers/{customer_id}/subscriptions/{subscription_id}")

    async def update_subscription(
        self, customer_id: str, subscription: m.Subscription, *, request_id: str | None = None, **changes: Any
    ) -> m.Subscription:
        """PATCH the full resource with `changes` (Microsoft's camelCase names) applied, sending its etag in
        If-Match (facts 7.3: a partial body can silently reset what it leaves out)."""
        body = {**msgspec.json.decode(m.encode(subscription)), **changes}
        etag = subscription.attributes.etag if subscription.attributes else None
        return await self._send(
            m.Subscription,
            "PATCH",
            f"/v1/customers/{customer_id}/subscriptions/{subscription.id}",
            body,
            request_id=request_id,
            headers={"If-Match": etag} if etag else None,
        )

    # --- Transitions (upgrades, trial conversions: facts 6.5, 7.6) ----------------------------------------

    async def transition_eligibilities(
        self, customer_id: str, subscription_id: str, eligibility_type: str = "immediate"
    ) -> list[m.TransitionEligibility]:
        return await self._items(
            m.TransitionEligibility,
            f"/v1/customers/{customer_id}/subscriptions/{subscription_id}/transitionEligibilities",
            eligibilityType=eligibility_type,
        )

    async def create_transition(
        self, customer_id: str, subscription_id: str, body: dict | m.Transition, *, request_id: str | None = None
    ) -> m.Transition:
        return await self._send(
            m.Transition,
            "POST",
            f"/v1/customers/{customer_id}/subscriptions/{subscription_id}/transitions",
            body,
            request_id=request_id,
        )

    async def list_transitions(
        self, customer_id: str, subscription_id: str, operation_id: str | None = None
    ) -> list[m.Transition]:
        listed = await self._get(
            m.TransitionList,
            f"/v1/customers/{customer_id}/subscriptions/{subscription_id}/transitions",
            operationId=operation_id,
        )
        return listed.transitions

    # --- Legacy to new commerce migration (facts 7.7) ------------------------------------------------------

    async def validate_migration(self, customer_id: str, current_subscription_id: str) -> m.NewCommerceEligibility:
        return await self._send(
            m.NewCommerceEligibility,
            "POST",
            f"/v1/customers/{customer_id}/migrations/newcommerce/validate",
            {"currentSubscriptionId": current_subscription_id},
        )

    async def create_migration(
        self, customer_id: str, body: dict | m.NewCommerceMigration, *, request_id: str | None = None
    ) -> m.NewCommerceMigration:
        return await self._send(
            m.NewCommerceMigration,
            "POST",
            f"/v1/customers/{customer_id}/migrations/newcommerce",
            body,
            request_id=request_id,
        )

    async def get_migration(self, customer_id: str, migration_id: str) -> m.NewCommerceMigration:
        return await self._get(
            m.NewCommerceMigration, f"/v1/customers/{customer_id}/migrations/newcommerce/{migration_id}"
        )

    async def list_migrations(
        self,
        customer_id: str | None = None,
        current_subscription_id: str | None = None,
        external_reference_id: str | None = None,
    ) -> list[m.NewCommerceMigration]:
        """The partner's migrations, filtered by customer, legacy subscription or batch (`externalReferenceId`)."""
        return await self._items(
            m.NewCommerceMigration,
            "/v1/migrations/newcommerce",
            CustomerTenantId=customer_id,
            CurrentSubscriptionId=current_subscription_id,
            ExternalReferenceId=external_reference_id,
        )

    # --- Users and licences (facts 8) ------------------------------------------------------------------------

    async def create_user(
        self, customer_id: str, body: dict | m.CustomerUser, *, request_id: str | None = None
    ) -> m.CustomerUser:
        return await self._send(
            m.CustomerUser, "POST", f"/v1/customers/{customer_id}/users", body, request_id=request_id
        )

    def list_users(self, customer_id: str, size: int = 100, *, deleted: bool = False) -> AsyncIterator[m.CustomerUser]:
        """Active users; `deleted=True` lists the soft-deleted ones instead (Microsoft's UserState filter)."""
        params: dict[str, Any] = {"size": size}
        if deleted:
            params["filter"] = '{"Field":"UserState","Value":"Inactive","Operator":"equals"}'
        return self._paged(m.CustomerUser, f"/v1/customers/{customer_id}/users", params)

    async def update_user(
        self, customer_id: str, user_id: str, changes: dict, *, request_id: str | None = None
    ) -> m.CustomerUser:
        """PATCH displayName, firstName, lastName, usageLocation."""
        return await self._send(
            m.CustomerUser, "PATCH", f"/v1/customers/{customer_id}/users/{user_id}", changes, request_id=request_id
        )

    async def get_user(self, customer_id: str, user_id: str) -> m.CustomerUser:
        return await self._get(m.CustomerUser, f"/v1/customers/{customer_id}/users/{user_id}")

    async def delete_user(self, customer_id: str, user_id: str, *, request_id: str | None = None) -> None:
        await self.request("DELETE", f"/v1/customers/{customer_id}/users/{user_id}", request_id=request_id)

    async def subscribed_skus(self, customer_id: str) -> list[m.SubscribedSku]:
        return await self._items(m.SubscribedSku, f"/v1/customers/{customer_id}/subscribedskus")

    async def update_licenses(
        self,
        customer_id: str,
        user_id: str,
        assign: Sequence[str] = (),
        remove: Sequence[str] = (),
        *,
        request_id: str | None = None,
    ) -> m.LicenseUpdate:
        """Assign and remove licences by Entra SKU id (facts 8.2: `productSku.id`, not the NCE product id)."""
        body = {
            "licensesToAssign": [{"skuId": sku, "excludedPlans": None} for sku in assign],
            "licensesToRemove": list(remove),
        }
        return await self._send(
            m.LicenseUpdate,
            "POST",
            f"/v1/customers/{customer_id}/users/{user_id}/licenseupdates",
            body,
            request_id=request_id,
        )

    async def user_licenses(self, customer_id: str, user_id: str) -> list[m.UserLicense]:
        return await self._items(m.UserLicense, f"/v1/customers/{customer_id}/users/{user_id}/licenses")

    # --- Domains and GDAP (facts 3.1, 3.5) -------------------------------------------------------------------
    # GDAP lives in Microsoft Graph (self.graph_base), which wants a token for its own audience

    async def domain_exists(self, domain: str) -> bool:
        """Partner Center's domain check (HEAD /v1/domains/{domain}): 200 when taken, 404 when free."""
        try:
            await self.request("HEAD", f"/v1/domains/{domain}")
        except NotFoundError:
            return False
        return True

    def _gdap_url(self, path: str = "") -> str:
        return f"{self.graph_base}/v1.0/tenantRelationships/delegatedAdminRelationships{path}"

    async def create_gdap_relationship(
        self, body: dict, *, request_id: str | None = None
    ) -> m.DelegatedAdminRelationship:
        """`{displayName, duration ("P730D"), customer: {tenantId}, accessDetails: {unifiedRoles: [...]}}`."""
        return await self._send(m.DelegatedAdminRelationship, "POST", self._gdap_url(), body, request_id=request_id)

    async def get_gdap_relationship(self, relationship_id: str) -> m.DelegatedAdminRelationship:
        return await self._get(m.DelegatedAdminRelationship, self._gdap_url(f"/{relationship_id}"))

    async def list_gdap_relationships(self) -> list[m.DelegatedAdminRelationship]:
        """Every relationship, following Graph's @odata.nextLink."""
        relationships: list[m.DelegatedAdminRelationship] = []
        url: str | None = self._gdap_url()
        while url:
            page = await self._get(m.GraphList[m.DelegatedAdminRelationship], url)
            relationships += page.value
            url = page.next_link
        return relationships

    async def request_gdap_approval(
        self, relationship_id: str, *, request_id: str | None = None
    ) -> m.DelegatedAdminRelationshipRequest:
        """lockForApproval: the relationship waits for the customer's admin (see gdap_approval_link)."""
        return await self._gdap_request(relationship_id, "lockForApproval", request_id)

    async def terminate_gdap_relationship(
        self, relationship_id: str, *, request_id: str | None = None
    ) -> m.DelegatedAdminRelationshipRequest:
        return await self._gdap_request(relationship_id, "terminate", request_id)

    async def _gdap_request(
        self, relationship_id: str, action: str, request_id: str | None
    ) -> m.DelegatedAdminRelationshipRequest:
        return await self._send(
            m.DelegatedAdminRelationshipRequest,
            "POST",
            self._gdap_url(f"/{relationship_id}/requests"),
            {"action": action},
            request_id=request_id,
        )

    # --- Billing ------------------------------------------------------------------------------------

    def unbilled_line_items(self, currency: str, size: int = 2000) -> AsyncIterator[m.OneTimeInvoiceLineItem]:
        return self._paged(
            m.OneTimeInvoiceLineItem,
            "/v1/invoices/unbilled/lineitems",
            {
                "provider": "onetime",
                "invoicelineitemtype": "billinglineitems",
                "currencycode": currency,
                "period": "current",
                "size": size,
            },
        )

    async def list_invoices(self) -> list[m.Invoice]:
        return await self._items(m.Invoice, "/v1/invoices")

    def invoice_line_items(self, invoice_id: str, size: int = 2000) -> AsyncIterator[m.OneTimeInvoiceLineItem]:
        return self._paged(
            m.OneTimeInvoiceLineItem, f"/v1/invoices/{invoice_id}/lineitems/OneTime/BillingLineItems", {"size": size}
        )


def gdap_approval_link(relationship_id: str, admin_base: str | None = None) -> str:
    """The link the partner sends the customer's Global Administrator to approve a GDAP relationship (after
    lockForApproval). Microsoft's admin center routes it after "#"; the sandbox (admin_base = its address) serves
    the same path without it."""
    path = f"partners/invitation/granularAdminRelationships/{relationship_id}"
    if admin_base is None:
        return f"{ADMIN_CENTER}/AdminPortal/Home#/{path}"
    return f"{admin_base.rstrip('/')}/AdminPortal/Home/{path}"


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"description": response.text[:500]}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


__all__ = ["PartnerCenterClient", "PartnerCenterError", "RetryPolicy", "TokenProvider"]
