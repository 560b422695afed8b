"""Non-payment rules across moved time (NCE_RULES 5), against the sandbox: the monthly run issues the invoice,
reminders go out at the chosen days overdue, a partial payment re-anchors the days, suspension at N days overdue
suspends every subscription billed to the account (at Microsoft too) and tells the account why, and paying the
overdue balance reactivates them."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app import clock, db
from app.billing import dunning, payments
from app.billing import rules as billing_rules
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


async def _seats_asked(actor, subs: list[dict], times: int) -> list[str]:
    """Seat increases asked for through the service, one after another on each subscription; a refusal (held for
    non-payment, past the credit limit) is an answer the person would read, not a failure."""
    from app.errors import Conflict
    from app.subscriptions import changes

    answers = []
    for _ in range(times):
        for sub in subs:
            try:
                await changes.request_change(actor, sub["id"], {"quantity": sub["quantity"] + 1})
                answers.append("accepted")
            except Conflict as refused:
                answers.append(refused.code)
    return answers


async def _watch_exposure(account_id, done: asyncio.Event, seen: list[Decimal]) -> None:
    """The account's exposure, again and again while the tick runs: what a credit check could have read."""
    while not done.is_set():
        seen.append(await _exposure_snapshot(account_id))
        await asyncio.sleep(0.01)


async def _row(sub: dict) -> dict:
    row = await db.fetchrow("SELECT * FROM subscriptions WHERE id = $1", sub["id"])
    assert row is not None
    return row


async def _exposure_snapshot(account_id) -> Decimal:
    """The account's exposure as one snapshot of the ledger (its parts are several statements)."""
    from app.billing import service as billing

    async with db.transaction():
        await db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return (await billing.exposure(account_id)).amount


async def test_provisioning_seat_requests_payments_and_the_lifecycle_pass_with_dunning_and_the_run_never_deadlock(
    catalog: Sandbox, admin
):
    """Issue 16, the whole tick: on the day a group of bill-to accounts reaches its suspension day, the dunning pass,
    the billing run and the lifecycle pass (a monthly installment and a term end of the same accounts) run while
    their earlier orders are provisioned at the sandbox, seat increases are asked for and applied, and one account
    pays its overdue invoice; each on its own connection. Nothing fails, each unpaid account is suspended that day,
    every provisioned line has one `new` charge, and the account with a credit limit never passes it."""
    from app.billing import service as billing
    from app.orders import jobs as order_jobs
    from app.orders import service as orders
    from app.subscriptions import lifecycle

    rounds, per_group = 4, 3
    start = datetime(2027, 1, 1, 9, tzinfo=UTC)
    pc = catalog.client(await catalog.user_tokens())
    with clock.use_fixed_clock(start) as fixed:
        groups = []
        for number in range(rounds):
            tick = (start + timedelta(days=28 + number)).date()
            group = []
            for _ in range(per_group):
                account = await us_customer()
                subs = [await subscription(account, pc_id=f"pc-{uuid.uuid4()}") for _ in range(2)]
                # the lifecycle pass's work on the tick: a monthly installment begins that day, a term ended before
                begun = billing_rules.add_months(tick, -1)
                await db.execute(
                    "UPDATE subscriptions SET start_date = $2, end_date = $3 WHERE id = $1",
                    subs[0]["id"], begun, billing_rules.term_end(begun, "P1Y"),
                )  # fmt: skip
                ended = await subscription(account, pc_id=f"pc-{uuid.uuid4()}")
                await db.execute(
                    "UPDATE subscriptions SET end_date = $2 WHERE id = $1", ended["id"], tick - timedelta(days=1)
                )
                await charge(subs[0], "50.40")
                placed = await orders.place_order(
                    admin, {"customer_id": str(account["id"]), "lines": [line(BASIC, 2, "P1Y", "monthly")]}
                )
                group.append((account, [await _row(s) for s in subs], uuid.UUID(placed["id"])))
            await run_now()  # due 14 days later: the group's suspension day is 28 days from today
            groups.append(group)
            fixed.advance(days=1)

        fixed.current = start + timedelta(days=28)
        for number, group in enumerate(groups):
            today = clock.now().date()
            (limited, limited_subs, _), (payer, _, _), *_ = group
            per_seat = await billing.added_commitment(limited_subs[0], 1, today, "USD")
            # room for three more seats, never four
            limit = (await billing.exposure(limited["id"])).amount + per_seat.amount * Decimal("3.5")
            await db.execute("UPDATE accounts SET credit_limit = $2 WHERE id = $1", limited["id"], limit)
            overdue = await db.fetchrow(
                "SELECT id, total FROM invoices WHERE account_id = $1 ORDER BY number LIMIT 1", payer["id"]
            )
            assert overdue is not None
            done = asyncio.Event()
            highest: list[Decimal] = []

            async def keep_changing(subs: list[dict]) -> None:
                for seats in range(2, 5):
                    for sub in subs:
                        await _change_seats(sub, seats)

            watcher = asyncio.create_task(_watch_exposure(limited["id"], done, highest))
            work = [
                dunning.due(clock.now()),
                run_now(),
                lifecycle.due(clock.now()),
                payments.record_manual(admin, overdue["id"], {"amount": str(overdue["total"]), "reference": "wire"}),
                *(order_jobs.provision(order_id, pc) for _, _, order_id in group),
                _seats_asked(admin, limited_subs, 4),
                *(_seats_asked(admin, subs[::-1], 1) for account, subs, _ in group if account is not limited),
                *(keep_changing(subs) for account, subs, _ in group if account is not limited),
            ]
            began = asyncio.get_running_loop().time()
            outcomes = await asyncio.gather(*work, return_exceptions=True)
            took = asyncio.get_running_loop().time() - began
            done.set()
            await watcher
            failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
            assert failures == [], f"round {number}"

            for account, _, _ in group:
                held = await db.fetchrow("SELECT payment_hold, hold_reason FROM accounts WHERE id = $1", account["id"])
                assert held is not None
                if account is payer:
                    assert not held["payment_hold"], f"round {number}: paid on {today} and still held"
                else:
                    assert held["payment_hold"], f"round {number}: not suspended on {today}"
                    assert f"suspended on {today.isoformat()} " in held["hold_reason"]
            lines = await db.fetch(
                "SELECT l.status, (SELECT count(*) FROM charges c WHERE c.subscription_id = l.subscription_id "
                "AND c.charge_type = 'new') AS new_charges FROM order_lines l WHERE l.order_id = ANY($1::uuid[])",
                [order_id for _, _, order_id in group],
            )
            assert [(r["status"], r["new_charges"]) for r in lines] == [("provisioned", 1)] * len(group)
            begun = [subs[0]["id"] for _, subs, _ in group]
            cycles = await db.fetch_column(
                "SELECT subscription_id FROM charges WHERE charge_type = 'cycle' AND period_start = $1 "
                "AND subscription_id = ANY($2::uuid[])",
                today,
                begun,
            )
            assert sorted(cycles) == sorted(begun)  # each subscription begun a month before: its installment, once
            asked = outcomes[4 + per_group]
            assert set(asked) <= {"accepted", "payment_hold", "credit_limit"}, asked
            assert asked.count("accepted") <= 3, asked
            after = await _exposure_snapshot(limited["id"])
            assert max([*highest, after]) <= limit, f"round {number}: exposure {max(highest)} over {limit}"
            print(f"round {number}: {took:.2f}s, limited account's seat requests {asked}")
            fixed.advance(days=1)
