"""Non-payment rules across moved time (NCE_RULES 5), against the sandbox: the monthly run issues the invoice,
reminders go out at the chosen days overdue, a partial payment re-anchors the days, suspension at N days overdue
suspends every subscription billed to the account (at Microsoft too) and tells the account why, and paying the
overdue balance reactivates them."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from app import clock, db
from app.billing import dunning, payments
from app.mail import service as mail
from tests import factories
from tests.integration.billing_fixtures import charge, subscription
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_billing_runs import run_now
from tests.integration.test_orders import BASIC, line, order, provision, us_customer
from tests.integration.test_subscription_lifecycle import move

pytestmark = pytest.mark.integration


async def mails(to: str) -> list[str]:
    return await db.fetch_column("SELECT subject FROM mail_outbox WHERE to_address = $1 ORDER BY created_at", to)


async def statuses(customer_id) -> list[str]:
    return await db.fetch_column("SELECT status FROM subscriptions WHERE customer_id = $1", customer_id)


async def microsoft_status(customer_id) -> str:
    return str(
        await db.fetchval(
            "SELECT p.status FROM pcs_subscriptions p JOIN subscriptions s ON s.partner_center_id = p.id::text "
            "WHERE s.customer_id = $1",
            customer_id,
        )
    )


async def test_reminders_suspension_and_reactivation_on_payment_with_the_days_re_anchored(
    catalog: Sandbox, admin, talks_to_sandbox
):
    served = talks_to_sandbox
    with clock.use_fixed_clock(datetime(2027, 1, 10, 9, tzinfo=UTC)) as fixed:
        customer = await us_customer()
        buyer = await factories.user(customer)
        placed = await order(served, await factories.api_token(buyer), customer, line(BASIC, 2, "P1Y", "monthly"))
        assert placed.status_code == 201, placed.text
        await provision(catalog)
        email = customer["email"]

        await move(fixed, catalog, days=22)  # 2027-02-01: the monthly run
        invoice = await db.fetchrow("SELECT * FROM invoices WHERE account_id = $1", customer["id"])
        assert invoice is not None
        assert (invoice["issue_date"], invoice["due_date"]) == (date(2027, 2, 1), date(2027, 2, 15))
        assert any(invoice["number"] in subject for subject in await mails(email))

        await move(fixed, catalog, days=15)  # 2027-02-16: one day overdue
        assert (await mails(email))[-1] == f"Payment reminder: {invoice['number']}"
        await move(fixed, catalog, days=6)  # 2027-02-22: seven days
        assert len([s for s in await mails(email) if s.startswith("Payment reminder")]) == 2

        half = (invoice["total"] / 2).quantize(invoice["total"])
        await move(fixed, catalog, days=3)  # 2027-02-25: a partial payment restarts the count
        await payments.record_manual(admin, invoice["id"], {"amount": str(half), "reference": "part"})
        await move(fixed, catalog, days=4)  # 2027-03-01: 14 days after the due day, but 4 after the payment
        assert await statuses(customer["id"]) == ["active"]
        assert len([s for s in await mails(email) if s.startswith("Payment reminder")]) == 3  # day 1 again

        await move(fixed, catalog, days=10)  # 2027-03-11: 14 days after the payment
        assert await statuses(customer["id"]) == ["suspended"]
        assert await microsoft_status(customer["id"]) == "suspended"
        account = await db.fetchrow("SELECT payment_hold, hold_reason FROM accounts WHERE id = $1", customer["id"])
        assert account is not None
        assert account["payment_hold"]
        assert account["hold_reason"] == (
            "The subscriptions billed to this account were suspended on 2027-03-11 because "
            f"{invoice['number']} was 14 days overdue. Paying the overdue balance reactivates them automatically."
        )
        assert (await mails(email))[-1] == f"Subscriptions suspended: {invoice['number']} overdue"
        await factories.sign_in(served, buyer)
        page = await served.get("/invoices")
        assert "Account on hold." in page.text
        assert "was 14 days overdue" in page.text
        refused = await order(served, await factories.api_token(buyer), customer, line(BASIC, 1, "P1Y", "monthly"))
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "payment_hold"

        await payments.record_manual(admin, invoice["id"], {"amount": str(invoice["total"] - half)})
        await provision(catalog)
        assert await statuses(customer["id"]) == ["active"]
        assert await microsoft_status(customer["id"]) == "active"
        assert (await mails(email))[-1] == "Overdue balance paid: subscriptions reactivated"
        assert not await db.fetchval("SELECT payment_hold FROM accounts WHERE id = $1", customer["id"])
        page = await served.get("/invoices")
        assert "Account on hold." not in page.text
        log = await db.fetch_column(
            "SELECT action FROM events WHERE subject_id = $1 ORDER BY at, id", str(customer["id"])
        )
        assert log[-2:] == ["suspended_for_nonpayment", "reactivated_after_payment"]


async def test_a_later_overdue_invoice_keeps_the_hold_dated_from_the_suspension(committed):
    with clock.use_fixed_clock(datetime(2027, 1, 1, 9, tzinfo=UTC)) as fixed:
        account = await factories.customer()
        sub = await subscription(account)
        await charge(sub, "50.40")
        await run_now()  # INV due 2027-01-15 (14 days' terms)
        fixed.advance(days=31)
        await charge(sub, "50.40")
        await run_now()  # 2027-02-01: the next, due 2027-02-15
        fixed.advance(days=3)  # 2027-02-04: the first 20 days overdue, a moved clock's jump
        await dunning.due(clock.now())
        reason = await db.fetchval("SELECT hold_reason FROM accounts WHERE id = $1", account["id"])
        first = await db.fetchval("SELECT min(number) FROM invoices WHERE account_id = $1", account["id"])
        assert reason == (
            f"The subscriptions billed to this account were suspended on 2027-02-04 because {first} was 20 days "
            "overdue. Paying the overdue balance reactivates them automatically."
        )

        fixed.advance(days=30)  # 2027-03-06: the second is 19 days overdue too
        await dunning.due(clock.now())
        assert await db.fetchval("SELECT hold_reason FROM accounts WHERE id = $1", account["id"]) == reason
        second = await db.fetchval("SELECT max(number) FROM invoices WHERE account_id = $1", account["id"])
        # each invoice's reminders (the jumps passed them), and the one suspension mail
        assert await mails(account["email"]) == [
            f"Payment reminder: {first}",
            f"Payment reminder: {first}",
            f"Subscriptions suspended: {first} overdue",
            f"Payment reminder: {second}",
            f"Payment reminder: {second}",
        ]


async def _change_seats(sub: dict, quantity: int) -> None:
    """A seat change as its job records it once Microsoft took it: the subscription, then its charges."""
    from app.subscriptions import changes

    payload = {"subscription_id": str(sub["id"]), "actor": "", "actor_email": None, "quantity": quantity}
    await changes._record(sub, payload, uuid.uuid4(), None)


async def test_the_dunning_pass_billing_run_and_seat_changes_at_one_tick_never_deadlock(committed):
    """Issue 16: a suspension that met a billing run and subscription changes at the same tick died of a deadlock
    and waited for a later tick. Each round, one group of accounts reaches its suspension day while the run
    invoices and every subscription of every account changes seats, each on its own connection."""
    rounds, per_group, subs_each = 4, 3, 3
    start = datetime(2027, 1, 1, 9, tzinfo=UTC)
    with clock.use_fixed_clock(start) as fixed:
        groups: list[list[tuple[dict, list[dict]]]] = []
        for _ in range(rounds):
            group = []
            for _ in range(per_group):
                account = await factories.customer()
                subs = [await subscription(account, pc_id=f"pc-{uuid.uuid4()}") for _ in range(subs_each)]
                await charge(subs[0], "50.40")
                group.append((account, subs))
            await run_now()  # due 14 days later: the group's suspension day is 28 days from today
            groups.append(group)
            fixed.advance(days=1)
        fixed.current = start + timedelta(days=28)
        for number, group in enumerate(groups):

            async def keep_changing(subs: list[dict]) -> None:
                for seats in range(2, 8):  # busy with the group's seats for the whole pass
                    for sub in subs:
                        await _change_seats(sub, seats)

            work = [keep_changing(subs) for _, subs in group] + [keep_changing(subs[::-1]) for _, subs in group]
            outcomes = await asyncio.gather(dunning.due(clock.now()), run_now(), *work, return_exceptions=True)
            failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
            assert failures == []
            today = clock.now().date().isoformat()
            for account, _ in group:
                held = await db.fetchrow("SELECT payment_hold, hold_reason FROM accounts WHERE id = $1", account["id"])
                assert held is not None
                assert held["payment_hold"], f"round {number}: not suspended on {today}"
                assert f"suspended on {today} " in held["hold_reason"]
            fixed.advance(days=1)


async def _outbox(to: str) -> list[tuple[str, date, str]]:
    """The account's mails as the outbox lists them (oldest first): subject, the day each is dated, body."""
    return [
        (m["subject"], m["created_at"].date(), m["body"])
        for m in reversed(await mail.outbox())
        if m["to_address"] == to
    ]


async def _overdue_from_jan_15(fixed) -> tuple[dict, str]:
    """An account with one invoice issued 1 Jan and due 15 Jan (14 days' terms; reminders at 1 and 7 days overdue,
    suspension at 14), the clock at 6 Jan with the day's pass run."""
    account = await factories.customer()
    sub = await subscription(account, pc_id=f"pc-{uuid.uuid4()}")
    await charge(sub, "50.40")
    await run_now()
    number = await db.fetchval("SELECT number FROM invoices WHERE account_id = $1", account["id"])
    fixed.current = datetime(2027, 1, 6, 9, tzinfo=UTC)
    await dunning.due(clock.now())
    assert await _outbox(account["email"]) == []
    return account, str(number)


async def test_a_jump_past_the_suspension_sends_each_reminder_dated_and_in_order_before_it(committed):
    with clock.use_fixed_clock(datetime(2027, 1, 1, 9, tzinfo=UTC)) as fixed:
        account, number = await _overdue_from_jan_15(fixed)
        fixed.current = datetime(2027, 1, 31, 9, tzinfo=UTC)
        await dunning.due(clock.now())
        sent = await _outbox(account["email"])
        assert [(subject, day) for subject, day, _ in sent] == [
            (f"Payment reminder: {number}", date(2027, 1, 16)),
            (f"Payment reminder: {number}", date(2027, 1, 22)),
            (f"Subscriptions suspended: {number} overdue", date(2027, 1, 31)),
        ]
        assert "As of 2027-01-16" in sent[0][2]
        assert "due 2027-01-15, 1 day overdue" in sent[0][2]
        assert "As of 2027-01-22" in sent[1][2]
        assert "due 2027-01-15, 7 days overdue" in sent[1][2]
        assert await db.fetchval("SELECT payment_hold FROM accounts WHERE id = $1", account["id"])

        fixed.advance(days=1)
        await dunning.due(clock.now())
        assert len(await _outbox(account["email"])) == 3


async def test_a_jump_between_reminders_sends_those_due_and_no_suspension(committed):
    with clock.use_fixed_clock(datetime(2027, 1, 1, 9, tzinfo=UTC)) as fixed:
        account, number = await _overdue_from_jan_15(fixed)
        fixed.current = datetime(2027, 1, 23, 9, tzinfo=UTC)  # 8 days overdue
        await dunning.due(clock.now())
        expected = [
            (f"Payment reminder: {number}", date(2027, 1, 16)),
            (f"Payment reminder: {number}", date(2027, 1, 22)),
        ]
        assert [(subject, day) for subject, day, _ in await _outbox(account["email"])] == expected
        assert not await db.fetchval("SELECT payment_hold FROM accounts WHERE id = $1", account["id"])
        log = await db.fetch(
            "SELECT action, after FROM events WHERE subject_type = 'invoice' AND action = 'payment_reminder' "
            "ORDER BY at, id"
        )
        assert [json.loads(e["after"]) if isinstance(e["after"], str) else e["after"] for e in log] == [
            {"days_overdue": 1, "on": "2027-01-16"},
            {"days_overdue": 7, "on": "2027-01-22"},
        ]

        fixed.advance(days=1)  # the next tick: nothing new is due
        await dunning.due(clock.now())
        assert [(subject, day) for subject, day, _ in await _outbox(account["email"])] == expected
