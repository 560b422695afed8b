"""Billing as people see it: the invoice page and its PDF from one template, the mail with the PDF attached, paying
on the page, the CSP's desk (runs, seller, tax rates, rules), an account's billing page with its exposure, the
statement's running balance, and deferred revenue earned day by day."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app import clock, db
from app.billing import invoices, options, payments, runs
from app.jobs.worker import drain
from app.mail import service as mail
from tests import factories
from tests.integration.billing_fixtures import charge, subscription
from tests.integration.test_billing_runs import JAN, run_now

pytestmark = pytest.mark.integration

CARD = {"number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}


async def billed_customer(amount: str = "120.00") -> tuple[dict, dict]:
    await options.update_seller(factories.SYSTEM_ADMIN, {
        "seller_name": "Contoso CSP B.V.", "seller_country": "NL", "seller_address": "Herengracht 1, Amsterdam",
        "seller_tax_id": "NL001", "payment_instructions": "IBAN NL91 ABNA 0417 1643 00.",
    })  # fmt: skip
    await options.set_tax_rate(factories.SYSTEM_ADMIN, {"country": "NL", "label": "BTW", "rate": "21"})
    account = await factories.customer(country="NL", currency="EUR", postal_code="1015 BS", city="Amsterdam",
                                       name="Tulip Dental B.V.")  # fmt: skip
    await charge(await subscription(account, title="Microsoft 365 Business Standard"), amount, quantity=10)
    run_id = uuid.uuid4()
    async with db.transaction():
        await runs._create(run_id, clock.now().date(), clock.now().date(), None, None, None)
    row = await db.fetchrow("SELECT * FROM billing_runs WHERE id = $1", run_id)
    while await runs.issue_batch(row):
        pass
    invoice = await db.fetchrow("SELECT * FROM invoices WHERE account_id = $1", account["id"])
    assert invoice is not None
    return account, invoice


async def test_the_invoice_page_pdf_and_mail_say_the_same_thing(committed, client, settings):
    with clock.use_fixed_clock(JAN):
        account, invoice = await billed_customer()
        customer = await factories.user(account)
        await factories.sign_in(client, customer)
        page = await client.get(f"/invoices/{invoice['id']}")
        assert page.status_code == 200
        shown = ("Contoso CSP B.V.", "Tulip Dental B.V.", "Microsoft 365 Business Standard", "€12.00",
                 "BTW 21% on €120.00", "€25.20", "€145.20", "IBAN NL91 ABNA 0417 1643 00.", "Pay by card")  # fmt: skip
        for text in shown:
            assert text in page.text, text
        filename, content = await invoices.pdf(customer, invoice["id"])
        assert filename == f"{invoice['number']}.pdf"
        assert content[:5] == b"%PDF-"
        pdf = await client.get(f"/invoices/{invoice['id']}/pdf")
        assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")

        await invoices.mail_document({"invoice_id": str(invoice["id"])}, settings)
        await invoices.mail_document({"invoice_id": str(invoice["id"])}, settings)  # once, however often asked
        sent = await db.fetch("SELECT * FROM mail_outbox WHERE to_address = $1", account["email"])
        assert len(sent) == 1
        assert sent[0]["subject"] == f"Invoice {invoice['number']} from Contoso CSP B.V."
        assert "€145.20, due on 2027-02-03" in sent[0]["body"]
        files = await mail.files_of(sent[0]["id"])
        assert [(f.filename, f.content_type, f.content[:5]) for f in files] == [
            (f"{invoice['number']}.pdf", "application/pdf", b"%PDF-")
        ]


async def test_a_customer_pays_on_the_page_and_a_refusal_shows_beside_the_form(committed, client, settings):
    with clock.use_fixed_clock(JAN):
        account, invoice = await billed_customer()
        customer = await factories.user(account)
        csrf = await factories.sign_in(client, customer)
        url = f"/invoices/{invoice['id']}/pay"
        too_much = await client.post(url, data={**CARD, "amount": "999.00"}, headers={"X-CSRFToken": csrf})
        assert too_much.status_code == 422
        assert "more than the invoice&#39;s balance of 145.20 EUR" in too_much.text
        bad_card = await client.post(url, data={**CARD, "number": "4242 4242 4242 4241", "amount": "10"},
                                     headers={"X-CSRFToken": csrf})  # fmt: skip
        assert bad_card.status_code == 422
        assert "This card number is not valid." in bad_card.text
        assert await payments.cards(account["id"]) == []  # a refused payment keeps no card either

        saved = await payments.save_card(customer, account["id"], {**CARD, "number": "5555 5555 5555 4444"}, settings)
        declined = await client.post(url, data={**CARD, "number": "4000 0000 0000 9995", "amount": "10.00",
                                                "payment_method_id": str(saved["id"])},
                                     headers={"X-CSRFToken": csrf})  # fmt: skip
        assert declined.headers["location"].endswith("?payment=declined")
        tried = await db.fetchval(
            "SELECT pm.last4 FROM payments p JOIN payment_methods pm ON pm.id = p.payment_method_id "
            "WHERE p.invoice_id = $1",
            invoice["id"],
        )
        assert tried == "9995"  # the card typed in is the one charged, though a saved card was checked
        assert [c["last4"] for c in await payments.cards(account["id"])] == ["4444"]  # the declined one is not kept
        paid = await client.post(url, data={**CARD, "amount": "145.20"}, headers={"X-CSRFToken": csrf})
        assert paid.status_code == 303
        assert paid.headers["location"].endswith("?payment=paid")
        after = await client.get(paid.headers["location"])
        assert "Thank you: the card payment went through. This invoice is paid." in after.text
    assert await db.fetchval("SELECT status FROM invoices WHERE id = $1", invoice["id"]) == "paid"


async def test_the_desk_runs_billing_and_keeps_the_seller_tax_and_rules(committed, app, admin, settings):
    import httpx

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    with clock.use_fixed_clock(JAN):
        account = await factories.customer()
        await charge(await subscription(account), "10.00")
        csrf = await factories.sign_in(client, admin)
        headers = {"X-CSRFToken": csrf}
        queued = await client.post("/billing/run", data={"as_of": "2027-01-20"}, headers=headers)
        assert queued.status_code == 303
        await drain(db.DB.config["dsn"], settings)
        desk = await client.get("/billing")
        assert "completed" in desk.text
        assert await db.fetchval("SELECT number FROM invoices") == "INV-2027-000001"
        future = await client.post("/billing/run", data={"as_of": "2027-02-01"}, headers=headers)
        assert future.status_code == 422
        assert "as_of cannot be after today" in future.text
        bad = await client.post("/billing/tax", data={"country": "Fr", "label": "", "rate": "120"}, headers=headers)
        assert bad.status_code == 422
        for message in ("The label is printed on invoices", "The rate is a percentage between 0 and 100"):
            assert message in bad.text
        saved = await client.post("/billing/tax", data={"country": "fr", "label": "TVA", "rate": "20",
                                                        "reverse_charge": "on"}, headers=headers)  # fmt: skip
        assert saved.status_code == 303
        assert [options.tax_rate_json(r) for r in await options.tax_rates()] == [
            {"country": "FR", "label": "TVA", "rate": "20", "reverse_charge": True}
        ]
        rules_form = await client.post("/billing/dunning", data={"reminder_days": "3, 9", "suspend_after_days": "5"},
                                       headers=headers)  # fmt: skip
        assert rules_form.status_code == 422
        assert "Reminders come before the suspension" in rules_form.text


async def test_the_account_billing_page_and_the_statement(committed, client, admin):
    with clock.use_fixed_clock(JAN) as fixed:
        account, invoice = await billed_customer("100.00")
        await payments.record_manual(admin, invoice["id"], {"amount": "21.00", "reference": "SEPA 1"})
        fixed.advance(days=31)
        await charge(await subscription(account), "-50.00", charge_type="cancel")
        await run_now()
        await factories.sign_in(client, await factories.user(account))
        page = await client.get(f"/accounts/{account['id']}/billing")
        assert page.status_code == 200
        assert "Open invoices (less open credit notes)" in page.text
        statement = await client.get(f"/accounts/{account['id']}/statement")
        context = await invoices.statement(admin, account["id"])
    book = context["books"]["EUR"]
    assert [(e["entry"], e["balance"]) for e in book["entries"]] == [
        ("invoice", Decimal("121.00")), ("payment", Decimal("100.00")), ("credit_note", Decimal("39.50")),
    ]  # fmt: skip
    assert "€39.50" in statement.text
    since = await invoices.statement(admin, account["id"], since=date(2027, 2, 1))
    assert since["books"]["EUR"]["opening"] == Decimal("100.00")


async def test_deferred_revenue_is_earned_day_by_day(committed, admin, client):
    with clock.use_fixed_clock(datetime(2027, 1, 16, tzinfo=UTC)):
        account = await factories.customer(currency="USD")
        sub = await subscription(account, plan="annual")
        await db.execute(
            "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, "
            "period_end, per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, posted_on, "
            "created_at) VALUES ($1, $2, 'new', 'new', 1, '2027-01-16', '2028-01-15', 365, 365, 'USD', 300, 300, "
            "'USD', '2027-01-16', now())",
            sub["id"],
            account["id"],
        )
        headers = await factories.api_token(admin)
        items = (await client.get("/api/v1/billing/deferred-revenue?currency=USD", headers=headers)).json()["items"]
    by_month = {i["month"]: i for i in items}
    assert by_month["2027-01"] == {"currency": "USD", "month": "2027-01", "billed": "365.00", "recognised": "16.00",
                                   "deferred": "349.00"}  # fmt: skip
    assert by_month["2027-02"]["recognised"] == "28.00"
    assert by_month["2028-01"] == {"currency": "USD", "month": "2028-01", "billed": "0.00", "recognised": "15.00",
                                   "deferred": "0.00"}  # fmt: skip
    assert sum(Decimal(i["recognised"]) for i in items) == Decimal("365.00")


def _recognised_by_month(amount: Decimal, start: date, end: date) -> dict[str, Decimal]:
    """What NCE_RULES 5 earns each month: the term day by day, each month's running total rounded to the cent and
    the month's share the difference, so the month of the last day takes the remainder."""
    days = (end - start).days + 1
    shares, earned, month = {}, Decimal(0), date(start.year, start.month, 1)
    while month <= end:
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        through = min(following, end + timedelta(days=1))
        total = (amount * (through - start).days / days).quantize(Decimal("0.01"), "ROUND_HALF_UP")
        shares[month.strftime("%Y-%m")], earned, month = total - earned, total, following
    return shares


async def test_deferred_revenue_reaches_zero_to_the_cent_when_every_term_has_ended(tx, admin, client):
    """151.76 over 365 days does not divide into cents: the months' rounded shares must still add up to it."""
    terms = [  # (amount, first day, last day, plan)
        (Decimal("151.76"), date(2027, 1, 16), date(2028, 1, 15), "annual"),
        (Decimal("151.76"), date(2027, 2, 14), date(2028, 2, 13), "annual"),
        (Decimal("455.29"), date(2027, 3, 10), date(2030, 3, 9), "triennial"),  # 1096 days, a leap day among them
        (Decimal("-37.94"), date(2027, 3, 10), date(2028, 2, 13), "annual"),  # seats removed: a refund
    ]
    account = await factories.customer(currency="USD")
    for amount, first, last, plan in terms:
        sub = await subscription(account, plan=plan)
        await db.execute(
            "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, "
            "period_end, per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, posted_on, "
            "created_at) VALUES ($1, $2, 'new', $3, 1, $4, $5, $6, $6, 'USD', 0, 0, 'USD', $4, now())",
            sub["id"],
            account["id"],
            f"new:{uuid.uuid4().hex[:8]}",
            first,
            last,
            amount,
        )
    expected: dict[str, Decimal] = {}
    for amount, first, last, _ in terms:
        for month, share in _recognised_by_month(amount, first, last).items():
            expected[month] = expected.get(month, Decimal(0)) + share

    headers = await factories.api_token(admin)
    items = (await client.get("/api/v1/billing/deferred-revenue?currency=USD", headers=headers)).json()["items"]
    assert {i["month"]: Decimal(i["recognised"]) for i in items} == expected
    assert all(len(i["recognised"].split(".")[1]) == 2 for i in items)  # every month in cents
    billed = sum(Decimal(i["billed"]) for i in items)
    assert billed == sum(t[0] for t in terms) == Decimal("720.87")
    assert sum(Decimal(i["recognised"]) for i in items) == billed
    assert items[-1]["month"] == "2030-03"
    assert [i["deferred"] for i in items if i["month"] >= "2030-03"] == ["0.00"]
    last_annual = next(i for i in items if i["month"] == "2028-02")
    # once the annual terms have ended only the triennial's unearned part is left
    assert Decimal(last_annual["deferred"]) == Decimal("455.29") - sum(
        share for month, share in _recognised_by_month(Decimal("455.29"), date(2027, 3, 10), date(2030, 3, 9)).items()
        if month <= "2028-02"
    )  # fmt: skip
