"""The API's JSON shapes for accounts and users (API.md, Accounts)."""

from __future__ import annotations

from datetime import datetime


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _id(value: object) -> str | None:
    return str(value) if value else None


def account_json(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "reseller_id": _id(row["parent_id"]) if row["kind"] == "customer" else None,
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "country": row["country"],
        "currency": row["currency"],
        "address": {
            "line1": row["address_line1"],
            "line2": row["address_line2"] or None,
            "city": row["city"],
            "state": row["state"] or None,
            "postal_code": row["postal_code"],
        },
        "tenant_id": _id(row["tenant_id"]),
        "domain": row["tenant_domain"],
        "mpn_id": row["mpn_id"],
        "qualification": row["qualification"] if row["kind"] == "customer" else None,
        "status": row["status"],
        "created_at": _time(row["created_at"]),
        "updated_at": _time(row["updated_at"]),
    }


def user_json(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "name": row["name"],
        "role": row["role"],
        "account_id": _id(row["account_id"]),
        "is_active": row["is_active"],
        "created_at": _time(row["created_at"]),
        "last_login_at": _time(row["last_login_at"]),
    }


def mca_json(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "customer_id": str(row["account_id"]),
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "email": row["email"],
        "phone": row["phone"] or None,
        "accepted_at": _time(row["accepted_at"]),
        "method": row["method"],
        "recorded_by": _id(row["recorded_by"]),
    }


def flatten_address(body: dict) -> dict:
    """API bodies nest the address; the service takes flat fields like the forms send."""
    data = {k: v for k, v in body.items() if k != "address"}
    address = body.get("address")
    if isinstance(address, dict):
        for key, field in (
            ("line1", "address_line1"),
            ("line2", "address_line2"),
            ("city", "city"),
            ("state", "state"),
            ("postal_code", "postal_code"),
        ):
            if key in address:
                data[field] = address[key]
    if "domain" in data:
        data["tenant_domain"] = data.pop("domain")
    return data
