"""Errors the sandbox answers with, in Partner Center's body shape (facts section 1 and 11)."""

from __future__ import annotations


class PartnerCenterFault(Exception):
    """`{"code": ..., "description": ..., "data": [], "source": "PartnerFD"}` with an HTTP status."""

    def __init__(self, status: int, code: int | str, description: str, data: list | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.data = data or []

    def body(self) -> dict:
        return {"code": self.code, "description": self.description, "data": self.data, "source": "PartnerFD"}


def not_found(what: str, code: int = 20000) -> PartnerCenterFault:
    return PartnerCenterFault(404, code, f"{what} was not found.")


def bad_request(description: str, code: int | str = 400) -> PartnerCenterFault:
    return PartnerCenterFault(400, code, description)


QUANTITY_CANNOT_DECREASE = (800090, "Subscription quantity cannot be decreased.")
MCA_REQUIRED = (13605, "The customer has not accepted the Microsoft Customer Agreement.")
AGREEMENT_EXISTS = (600061, "PartnerConfirmedAgreementAlreadyExists")
SUSPENDED_UPDATE = (800091, "The subscription is suspended. Only reactivation is allowed.")
AUTO_RENEW_NOT_ALLOWED = (800093, "Auto renew cannot be changed for this subscription.")
QUANTITY_OUT_OF_RANGE = (2002, "Subscription quantity isn't within minimum and maximum allowed quantity.")
QUANTITY_WHILE_SUSPENDING = (2001, "The quantity cannot change while the subscription is suspended.")
STALE_ETAG = (2055, "The subscription was changed by someone else. Get it again and retry.")
CANCEL_WINDOW_CLOSED = (
    800094,
    "The subscription can no longer be cancelled: its cancellation window has passed.",
)
NO_LICENSES_LEFT = (60012, "You have run out of licenses.")
APP_ONLY_NOT_SUPPORTED = (900329, "This operation is not supported with app-only authentication.")
MFA_REQUIRED = (900421, "Multi-factor authentication is required for this call.")
INVALID_TOKEN = (900420, "The access token is not valid for Partner Center.")
GDAP_REQUIRED = (900308, "The partner has no delegated admin relationship with this customer.")
PENDING_OPERATION = (900278, "The subscription has a pending operation. Try again once it has completed.")
