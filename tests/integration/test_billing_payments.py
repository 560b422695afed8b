"""Payments (NCE_RULES 5): partial payments, never above the balance (also when two arrive at once), the sandbox
gateway's cards (success, decline, timeout re-checked and never charged twice), automatic payment with retries on a
schedule, credit notes applied to the next invoice, and who may pay what."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app import clock, db
from app.billing import payments, runs
from app.jobs.worker import drain
from tests import factories
from tests.integration.billing_fixtures import charge, subscription
from tests.integration.test_billing_runs import JAN, run_now

pytestmark = pytest.mark.integration

CARD = {"number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}
DECLINED = {**CARD, "number": "4000000000000002"}
NO_FUNDS = {**CARD, "number": "4000000000009995"}
TIMEOUT = {**CARD, "number": "4000000000000119"}


async def invoiced(amount: str = "100.00", **account_fields) -> tuple[dict, dict]:
    """A direct customer with one issued invoice of `amount`, and the invoice's row."""
    account = await factories.customer(**account_fields)
    await charge(await subscription(account), amount)
    await run_now()
    row = await db.fetchrow("SELECT * FROM invoices WHERE account_id = $1", account["id"])
    assert row is not None
    return account, row


async def pay(client, headers, invoice_id, **body):
    return await client.post(f"/api/v1/invoices/{invoice_id}/payments", json=body, headers=headers)


async def state(invoice_id) -> tuple[str, Decimal]:
    row = await db.fetchrow("SELECT status, amount_paid FROM invoices WHERE id = $1", invoice_id)
    assert row is not None
    return row["status"], row["amount_paid"]


async def test_partial_payments_then_the_rest_and_never_more_than_the_balance(committed, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(JAN):
        _, invoice = await invoiced("100.00")
        first = await pay(client, headers, invoice["id"], amount="40.00", method="manual", reference="SEPA-1")
        assert first.status_code == 201, first.text
        assert (first.json()["status"], first.json()["amount"]) == ("succeeded", "40.00")
        assert await state(invoice["id"]) == ("partially_paid", Decimal("40.00"))

        too_much = await pay(client, headers, invoice["id"], amount="60.01", method="manual")
        assert too_much.status_code == 409
        assert too_much.json()["error"]["code"] == "overpayment"
        assert "more than the invoice's balance of 60.00 EUR" in too_much.json()["error"]["message"]
        for bad in ("0", "-5", "12.345", "ten"):
            refused = await pay(client, headers, invoice["id"], amount=bad, method="manual")
            assert refused.status_code == 422, bad
            assert refused.json()["error"]["field"] == "amount"
        assert await state(invoice["id"]) == ("partially_paid", Decimal("40.00"))  # nothing changed

        rest = await pay(client, headers, invoice["id"], amount="60.00", method="manual")
        assert rest.status_code == 201
        assert await state(invoice["id"]) == ("paid", Decimal("100.00"))
        body = (await client.get(f"/api/v1/invoices/{invoice['id']}", headers=headers)).json()
        assert (body["status"], body["amount_paid"], body["balance"]) == ("paid", "100.00", "0.00")
        again = await pay(client, headers, invoice["id"], amount="0.01", method="manual")
        assert again.status_code == 409


async def test_payments_at_the_same_moment_never_exceed_the_balance(committed, admin):
    with clock.use_fixed_clock(JAN):
        _, invoice = await invoiced("100.00")
        attempts = [
            payments.record_manual(admin, invoice["id"], {"amount": "40.00", "reference": f"r{n}"}) for n in range(5)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)
    assert sum(1 for r in results if isinstance(r, dict)) == 2
    assert await state(invoice["id"]) == ("partially_paid", Decimal("80.00"))


async def test_who_may_pay_and_see_what(committed, client):
    with clock.use_fixed_clock(JAN):
        account, invoice = await invoiced("50.00")
        customer = await factories.user(account)
        stranger = await factories.user(await factories.customer())
        own = await factories.api_token(customer)
        manual = await pay(client, own, invoice["id"], amount="10.00", method="manual")
        assert manual.status_code == 403  # bank transfers are recorded by the CSP
        other = await factories.api_token(stranger)
        assert (await client.get(f"/api/v1/invoices/{invoice['id']}", headers=other)).status_code == 404
        assert (await pay(client, other, invoice["id"], amount="10.00", method="card")).status_code == 404
        assert (await client.get("/api/v1/invoices", headers=other)).json()["items"] == []
        mine = (await client.get("/api/v1/invoices", headers=own)).json()["items"]
        assert [i["number"] for i in mine] == [invoice["number"]]
        no_card = await pay(client, own, invoice["id"], amount="10.00", method="card")
        assert no_card.status_code == 409
        assert no_card.json()["error"]["message"] == "This account has no saved card. Add a card first."


async def test_sandbox_cards_succeed_decline_or_time_out_and_are_never_charged_twice(committed, client, settings):
    with clock.use_fixed_clock(JAN):
        account, invoice = await invoiced("90.00")
        customer = await factories.user(account)
        headers = await factories.api_token(customer)
        good = await payments.save_card(customer, account["id"], CARD, settings)
        declined = await payments.save_card(customer, account["id"], DECLINED, settings)
        no_funds = await payments.save_card(customer, account["id"], NO_FUNDS, settings)
        slow = await payments.save_card(customer, account["id"], TIMEOUT, settings)
        assert (good["brand"], good["last4"], good["is_default"], declined["is_default"]) == (
            "visa",
            "4242",
            True,
            False,
        )

        refused = await pay(client, headers, invoice["id"], amount="30.00", method="card",
                            payment_method_id=str(declined["id"]))  # fmt: skip
        assert (refused.status_code, refused.json()["status"]) == (201, "failed")
        assert refused.json()["error"] == "The card was declined."
        broke = await pay(client, headers, invoice["id"], amount="30.00", method="card",
                          payment_method_id=str(no_funds["id"]))  # fmt: skip
        assert broke.json()["error"] == "The card was declined: insufficient funds."
        assert await state(invoice["id"]) == ("issued", Decimal("0"))

        paid = await pay(client, headers, invoice["id"], amount="30.00", method="card")  # the default card
        assert paid.json()["status"] == "succeeded"
        assert await state(invoice["id"]) == ("partially_paid", Decimal("30.00"))

        waiting = await pay(client, headers, invoice["id"], amount="60.00", method="card",
                            payment_method_id=str(slow["id"]))  # fmt: skip
        assert waiting.json()["status"] == "pending"
        assert await state(invoice["id"]) == ("partially_paid", Decimal("30.00"))
        held = await pay(client, headers, invoice["id"], amount="0.01", method="manual")  # the pending 60 holds
        assert held.status_code in (403, 409)
        admin = await factories.api_token(await factories.user(None))
        held = await pay(client, admin, invoice["id"], amount="0.01", method="manual")
        assert held.status_code == 409

        # the re-check, brought forward from its 30 s, asks the gateway by the payment's key
        await db.execute("UPDATE pgqueuer SET execute_after = now() WHERE entrypoint = 'payment_recheck'")
        await drain(db.DB.config["dsn"], settings)
        assert await state(invoice["id"]) == ("paid", Decimal("90.00"))
    charges = await db.fetch("SELECT status, amount FROM sandbox_gateway_charges ORDER BY created_at")
    assert [(c["status"], c["amount"]) for c in charges] == [
        ("declined", Decimal("30.00")), ("declined", Decimal("30.00")), ("succeeded", Decimal("30.00")),
        ("succeeded", Decimal("60.00")),
    ]  # fmt: skip
    listed = (await client.get(f"/api/v1/invoices/{invoice['id']}/payments", headers=headers)).json()["items"]
    assert [p["status"] for p in listed] == ["failed", "failed", "succeeded", "succeeded"]


async def test_an_account_with_a_card_is_charged_automatically_and_retried_on_a_schedule(committed, settings):
    with clock.use_fixed_clock(JAN) as fixed:
        payer = await factories.customer()
        failing = await factories.customer()
        owner = await factories.user(payer)
        await payments.save_card(owner, payer["id"], CARD, settings)
        await payments.save_card(await factories.user(failing), failing["id"], DECLINED, settings)
        for account in (payer, failing):
            await charge(await subscription(account), "25.00")
        run_id = uuid.uuid4()
        async with db.transaction():
            await runs._create(run_id, clock.now().date(), clock.now().date(), None, None, None)
        await runs.execute({"run_id": str(run_id)}, settings)
        await drain(db.DB.config["dsn"], settings)
        statuses = {r["account_id"]: r["status"] for r in await db.fetch("SELECT account_id, status FROM invoices")}
        assert (statuses[payer["id"]], statuses[failing["id"]]) == ("paid", "issued")
        tries = []
        for days in (1, 3, 7, 14):  # retries 1, 3 and 7 days after each failure, then no more
            fixed.advance(days=days)
            await payments.due_retries(clock.now())
            await drain(db.DB.config["dsn"], settings)
            tries.append(await db.fetchval("SELECT count(*) FROM payments WHERE account_id = $1", failing["id"]))
        mails = await db.fetch_column(
            "SELECT body FROM mail_outbox WHERE subject LIKE 'Automatic payment of%' ORDER BY created_at"
        )
    assert tries == [2, 3, 4, 4]
    assert "We will try again on 2027-01-21" in mails[0]
    assert "We will not try this card again" in mails[-1]


async def test_a_credit_note_pays_the_next_invoice(committed, settings):
    with clock.use_fixed_clock(JAN) as fixed:
        account = await factories.customer()
        sub = await subscription(account)
        await charge(sub, "-30.00", charge_type="cancel")
        await run_now()
        fixed.advance(days=30)
        await charge(sub, "100.00", posted_on=clock.now().date())
        run_id = uuid.uuid4()
        async with db.transaction():
            await runs._create(run_id, clock.now().date(), clock.now().date(), None, None, None)
        await runs.execute({"run_id": str(run_id)}, settings)
        docs = {r["kind"]: r for r in await db.fetch("SELECT * FROM invoices WHERE account_id = $1", account["id"])}
    assert (docs["credit_note"]["status"], docs["credit_note"]["amount_paid"]) == ("paid", Decimal("30.00"))
    assert (docs["invoice"]["status"], docs["invoice"]["amount_paid"]) == ("partially_paid", Decimal("30.00"))
    references = set(await db.fetch_column("SELECT reference FROM payments"))
    assert references == {f"applied to {docs['invoice']['number']}", f"{docs['credit_note']['number']} applied"}


async def test_exposure_has_each_part_and_the_credit_routes(committed, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(datetime(2027, 1, 10, tzinfo=UTC)):
        account = await factories.customer()
        monthly = await subscription(account)  # P1Y paid monthly at 72 a year: 6 a month, 1 seat
        await db.execute("UPDATE subscriptions SET start_date = $2, end_date = $3 WHERE id = $1", monthly["id"],
                         date(2027, 1, 10), date(2028, 1, 9))  # fmt: skip
        await db.execute(
            "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, "
            "period_end, per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, posted_on, "
            "created_at) VALUES ($1, $2, 'new', 'new', 1, '2027-01-10', '2027-02-09', 6, 6, 'USD', 5, 5, 'USD', "
            "'2027-01-10', now())",
            monthly["id"],
            account["id"],
        )
        other = await subscription(account, plan="annual")
        await charge(other, "120.00", posted_on=date(2027, 1, 9))
        await run_now(as_of=date(2027, 1, 9))  # invoices the 120; the monthly 6 stays uninvoiced
        await payments.record_manual(admin, (await db.fetch_column("SELECT id FROM invoices"))[0], {"amount": "20"})
        credit = (await client.get(f"/api/v1/accounts/{account['id']}/credit", headers=headers)).json()
        assert credit["parts"] == {
            "open_invoices": "100.00",
            "uninvoiced_charges": "6.00",
            "committed_installments": "66.00",  # 11 months still to come
            "pending_orders": "0.00",
            "pending_changes": "0.00",
        }
        assert (credit["exposure"], credit["credit_limit"], credit["available"]) == ("172.00", None, None)
        limited = await client.put(f"/api/v1/accounts/{account['id']}/credit", json={"credit_limit": "200.00"},
                                   headers=headers)  # fmt: skip
        assert (limited.json()["credit_limit"], limited.json()["available"]) == ("200.00", "28.00")
        for bad in ({"credit_limit": "-1"}, {"credit_limit": "1.234"}, {"limit": "5"}, {"credit_limit": "lots"}):
            response = await client.put(f"/api/v1/accounts/{account['id']}/credit", json=bad, headers=headers)
            assert response.status_code == 422, bad
        customer = await factories.api_token(await factories.user(account))
        assert (await client.get(f"/api/v1/accounts/{account['id']}/credit", headers=customer)).status_code == 200
        refused = await client.put(f"/api/v1/accounts/{account['id']}/credit", json={"credit_limit": None},
                                   headers=customer)  # fmt: skip
        assert refused.status_code == 403


async def test_billing_options_and_dunning_policy_routes(committed, admin, client):
    headers = await factories.api_token(admin)
    account = await factories.customer()
    url = f"/api/v1/accounts/{account['id']}/billing-options"
    saved = await client.put(url, json={"billing_plans": ["annual", "monthly"], "monthly_surcharge_percent": "5.00",
                                        "payment_terms_days": 30}, headers=headers)  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert saved.json() | {} == {
        "billing_plans": ["monthly", "annual"], "monthly_surcharge_percent": "5.00", "payment_terms_days": 30,
        "billing_day": 1, "auto_pay": True, "tax_id": "",
    }  # fmt: skip
    for bad in ({"billing_plans": []}, {"billing_plans": ["weekly"]}, {"payment_terms_days": 500},
                {"monthly_surcharge_percent": "101"}, {"billing_day": 31}, {"colour": "red"}):  # fmt: skip
        assert (await client.put(url, json=bad, headers=headers)).status_code == 422, bad
    body = {"reminder_days": [3, 1], "suspend_after_days": 10}
    policy = await client.put("/api/v1/billing/dunning-policy", json=body, headers=headers)
    assert policy.json() == {"reminder_days": [1, 3], "suspend_after_days": 10}
    assert (await client.get("/api/v1/billing/dunning-policy", headers=headers)).json() == policy.json()
    bad = await client.put("/api/v1/billing/dunning-policy", json={"reminder_days": [12], "suspend_after_days": 10},
                           headers=headers)  # fmt: skip
    assert bad.status_code == 422
    own = await client.put(f"/api/v1/accounts/{account['id']}/dunning-policy",
                           json={"reminder_days": [5], "suspend_after_days": 30}, headers=headers)  # fmt: skip
    assert own.json() == {"reminder_days": [5], "suspend_after_days": 30, "default": False}
    back = await client.put(f"/api/v1/accounts/{account['id']}/dunning-policy", json=None, headers=headers)
    assert back.json() == {"reminder_days": [1, 3], "suspend_after_days": 10, "default": True}
