"""Reading invoices and credit notes (API.md Billing), their PDF and mail, and the account statement. A document
belongs to its bill-to account and is seen by whoever sees that account (rules.scope_sql): a reseller's customer is
billed by its reseller, so it has none (a reseller's invoice lists each line's customer, so it also shows,
read-only, what the reseller resold)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

import jinja2

from app import clock, db, templating
from app.accounts import service as accounts
from app.accounts.rules import Principal, scope_sql
from app.billing import options
from app.config import ROOT, Settings
from app.errors import Invalid, NotFound
from app.mail import service as mail
from app.money import fx_json, round_amount

KINDS = ("invoice", "credit_note")
STATUSES = ("issued", "partially_paid", "paid", "void")
CHARGE_LABELS = {
    "new": "New subscription",
    "add_quantity": "Seats added",
    "remove_quantity": "Seats removed",
    "cancel": "Cancellation refund",
    "renew": "Renewal",
    "cycle": "Monthly installment",
    "convert": "Upgrade",
    "surcharge": "Surcharge",
    "promotion": "Promotion",
}
DOCUMENT_LABELS = {"invoice": "Invoice", "credit_note": "Credit note"}


# a document is seen by whoever sees its bill-to account
FROM_SQL = "FROM invoices i JOIN accounts a ON a.id = i.account_id"


def _decoded(row: dict) -> dict:
    """The frozen parties are jsonb, which asyncpg hands over as text."""
    return {**row, **{k: json.loads(row[k]) if isinstance(row[k], str) else row[k] for k in ("buyer", "seller")}}


def balance(row: dict) -> Decimal:
    """What is still to pay on an invoice, or still to apply from a credit note (both positive)."""
    return abs(Decimal(row["total"])) - Decimal(row["amount_paid"])


async def list_documents(
    viewer: Principal,
    *,
    kind: str,
    account_id: uuid.UUID | None = None,
    status: str | None = None,
    q: str | None = None,
    overdue: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int, list[dict]]:
    """The viewer's documents, newest first, with the total and balance per currency of everything that matches."""
    if status is not None and status not in STATUSES:
        raise Invalid({"status": f"status is one of {', '.join(STATUSES)}."})
    args: list = [kind]
    where = ["i.kind = $1", scope_sql(viewer, "a.id", "a.parent_id", args)]
    if account_id is not None:
        args.append(account_id)
        where.append(f"i.account_id = ${len(args)}")
    if status is not None:
        args.append(status)
        where.append(f"i.status = ${len(args)}")
    if q:
        args.append(f"%{q.strip()}%")
        where.append(f"(i.number ILIKE ${len(args)} OR i.buyer->>'name' ILIKE ${len(args)})")
    if overdue:
        args.append(clock.now().date())
        where.append(f"i.status IN ('issued', 'partially_paid') AND i.due_date < ${len(args)}")
    condition = " AND ".join(where)
    rows = await db.fetch(
        f"SELECT i.*, count(*) OVER () AS matches {FROM_SQL} WHERE {condition} "
        f"ORDER BY i.issue_date DESC, i.number DESC LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    totals = await db.fetch(
        f"SELECT i.currency, count(*) AS count, sum(i.total) AS total, "
        f"sum(abs(i.total) - i.amount_paid) FILTER (WHERE i.status IN ('issued', 'partially_paid')) AS balance "
        f"{FROM_SQL} WHERE {condition} GROUP BY i.currency ORDER BY i.currency",
        *args,
    )
    return (
        [document_json(_decoded(r)) for r in rows],
        int(rows[0]["matches"]) if rows else 0,
        [
            {
                "currency": t["currency"],
                "count": t["count"],
                "total": round_amount(t["total"], t["currency"]),
                "balance": round_amount(t["balance"] or 0, t["currency"]),
            }
            for t in totals
        ],
    )


async def get_row(viewer: Principal, document_id: uuid.UUID, kind: str | None = None) -> dict:
    args: list = [document_id]
    scope = scope_sql(viewer, "a.id", "a.parent_id", args)
    row = await db.fetchrow(f"SELECT i.* {FROM_SQL} WHERE i.id = $1 AND {scope}", *args)
    if row is None or (kind is not None and row["kind"] != kind):
        raise NotFound(f"This {DOCUMENT_LABELS.get(kind or 'invoice', 'document').lower()} was not found.")
    return _decoded(row)


async def lines(document_id: uuid.UUID) -> list[dict]:
    return await db.fetch(
        "SELECT * FROM invoice_lines WHERE invoice_id = $1 "
        "ORDER BY customer_name, description, period_start, charge_id",
        document_id,
    )


async def payments(document_id: uuid.UUID) -> list[dict]:
    return await db.fetch(
        "SELECT p.*, pm.brand, pm.last4, u.email AS created_by_email FROM payments p "
        "LEFT JOIN payment_methods pm ON pm.id = p.payment_method_id LEFT JOIN users u ON u.id = p.created_by "
        "WHERE p.invoice_id = $1 ORDER BY p.created_at",
        document_id,
    )


async def get_document(viewer: Principal, document_id: uuid.UUID, kind: str) -> dict:
    row = await get_row(viewer, document_id, kind)
    return document_json(row, await lines(document_id))


def _money(value: Any, currency: str) -> str:
    return str(round_amount(Decimal(value), currency))


def document_json(row: dict, line_rows: list[dict] | None = None) -> dict:
    """API.md Billing: an invoice, or a credit note in the same shape (its amounts negative)."""
    currency = row["currency"]
    body = {
        "id": str(row["id"]),
        "kind": row["kind"],
        "number": row["number"],
        "account_id": str(row["account_id"]),
        "account_name": row["buyer"]["name"],
        "currency": currency,
        "issue_date": row["issue_date"].isoformat(),
        "due_date": row["due_date"].isoformat(),
        "status": row["status"],
        "subtotal": _money(row["subtotal"], currency),
        "tax": _money(row["tax"], currency),
        "tax_rate": format(Decimal(row["tax_rate"]).normalize(), "f"),
        "tax_label": row["tax_label"],
        "reverse_charge": row["reverse_charge"],
        "total": _money(row["total"], currency),
        "amount_paid": _money(row["amount_paid"], currency),
        "balance": _money(balance(row), currency),
    }
    if line_rows is not None:
        body["lines"] = [
            {
                "subscription_id": str(line["subscription_id"]),
                "customer_name": line["customer_name"],
                "description": line["description"],
                "charge_type": line["charge_type"],
                "quantity": line["quantity"],
                "unit_price": _money(line["unit_price"], currency),
                "period_start": line["period_start"].isoformat(),
                "period_end": line["period_end"].isoformat(),
                "amount": _money(line["amount"], currency),
                "fx": fx_json(line["fx_rate"], line["source_currency"], currency, line["source_amount"]),
            }
            for line in line_rows
        ]
    return body


# --- The document as people read it: one template for the page and the PDF ---------------------------------------


async def document_context(row: dict) -> dict:
    """What templates/billing/_document.html shows: the frozen parties, the lines, tax per rate, and the state."""
    line_rows = [
        {**line, "fx": fx_json(line["fx_rate"], line["source_currency"], row["currency"], line["source_amount"])}
        for line in await lines(row["id"])
    ]
    customers = sorted({line["customer_name"] for line in line_rows})
    rates = {(f["rate"], f["from"], f["to"]): f for line in line_rows if (f := line["fx"])}
    return {
        "doc": row,
        "title": DOCUMENT_LABELS[row["kind"]],
        "lines": line_rows,
        "rates": [rates[key] for key in sorted(rates)],
        "charge_labels": CHARGE_LABELS,
        "show_customer": len(customers) > 1 or (customers and customers[0] != row["buyer"]["name"]),
        "balance": balance(row),
        "seller": row["seller"],
    }


@cache
def _environment() -> jinja2.Environment:
    """Templates outside a request (the PDF, mails): the pages' filters, no url_for."""
    from litestar.plugins.jinja import JinjaTemplateEngine

    engine = JinjaTemplateEngine(directory=ROOT / "templates")
    templating.configure(engine)
    return engine.engine


def render_pdf(context: dict) -> bytes:
    from xhtml2pdf import pisa

    html = _environment().get_template("billing/document_pdf.html").render(context)
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if result.err:
        raise RuntimeError(f"the PDF of {context['doc']['number']} could not be rendered")
    return out.getvalue()


async def pdf(viewer: Principal, document_id: uuid.UUID) -> tuple[str, bytes]:
    row = await get_row(viewer, document_id)
    return f"{row['number']}.pdf", render_pdf(await document_context(row))


def pdf_filename(row: dict) -> str:
    return f"{row['number']}.pdf"


async def mail_document(payload: dict, settings: Settings) -> None:
    """The job: the document to its bill-to, with the PDF attached (once: the mail's key is the document)."""
    found = await db.fetchrow("SELECT * FROM invoices WHERE id = $1", uuid.UUID(payload["invoice_id"]))
    if found is None:
        return
    row = _decoded(found)
    subject = f"{DOCUMENT_LABELS[row['kind']]} {row['number']} from {row['seller']['name'] or 'your CSP'}"
    if await db.fetchval("SELECT true FROM mail_outbox WHERE subject = $1 AND to_address = $2", subject,
                         row["buyer"]["email"]):  # fmt: skip
        return
    context = await document_context(row)
    body = _environment().get_template("billing/document_mail.txt").render({**context, "base_url": settings.base_url})
    await mail.send(
        row["buyer"]["email"],
        subject,
        body,
        files=[mail.Attachment(pdf_filename(row), "application/pdf", render_pdf(context))],
    )


# --- Statement -------------------------------------------------------------------------------------------------

STATEMENT_SQL = """
SELECT * FROM (
    SELECT i.issue_date AS on_day, i.created_at AS at, i.kind AS entry, i.number AS reference, i.id AS document_id,
           i.currency, CASE i.kind WHEN 'invoice' THEN i.total ELSE 0 END AS debit,
           CASE i.kind WHEN 'credit_note' THEN -i.total ELSE 0 END AS credit
    FROM invoices i WHERE i.account_id = $1
    UNION ALL
    SELECT p.received_on, p.created_at, 'payment', i.number || coalesce(' · ' || nullif(p.reference, ''), ''), i.id,
           p.currency, CASE WHEN i.kind = 'credit_note' THEN p.amount ELSE 0 END,
           CASE WHEN i.kind = 'invoice' THEN p.amount ELSE 0 END
    FROM payments p JOIN invoices i ON i.id = p.invoice_id
    WHERE p.account_id = $1 AND p.status = 'succeeded'
) e
ORDER BY currency, on_day, at
"""


async def statement(viewer: Principal, account_id: uuid.UUID, since: date | None = None) -> dict:
    """Every invoice, credit note and payment of the account by currency, with the running balance (what the
    account owes; negative: what it is owed), opening with the balance before `since`."""
    account = await accounts.get_account(viewer, account_id)
    by_currency: dict[str, dict] = {}
    for entry in await db.fetch(STATEMENT_SQL, account_id):
        book = by_currency.setdefault(entry["currency"], {"opening": Decimal(0), "entries": [], "closing": Decimal(0)})
        movement = Decimal(entry["debit"]) - Decimal(entry["credit"])
        if since is not None and entry["on_day"] < since:
            book["opening"] += movement
            book["closing"] = book["opening"]
            continue
        book["closing"] += movement
        book["entries"].append({**entry, "balance": book["closing"]})
    terms = await options.terms_of(account)
    return {"account": account, "books": by_currency, "since": since, "terms": terms}
