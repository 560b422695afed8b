"""Non-payment rules (NCE_RULES 5): reminders at chosen days overdue, suspension of every subscription billed to the
account at N days overdue, and automatic reactivation once the overdue balance is paid. Days count from the due
day, or from the last partial payment when one came later. Every step is logged and mailed, and the account's
pages say why (the hold's reason on every page).

Locks: the bill-to account's row, then its subscriptions by id (app/billing/locks.py, the one lock order for
accounts, invoices and subscriptions), so a suspension never deadlocks with a billing run, a provisioning or a seat
change at the same tick."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime

from app import clock, db
from app.audit import service as audit
from app.billing import locks, options, rules
from app.jobs import queue
from app.mail import service as mail
from app.operations import service as operations
from app.subscriptions import changes, lifecycle

OVERDUE_SQL = """
SELECT i.id, i.number, i.account_id, i.currency, i.due_date, abs(i.total) - i.amount_paid AS balance, i.buyer,
       (SELECT max(p.received_on) FROM payments p WHERE p.invoice_id = i.id AND p.status = 'succeeded')
           AS last_payment_on,
       a.reminder_days, a.suspend_after_days, a.payment_hold
FROM invoices i JOIN accounts a ON a.id = i.account_id
WHERE i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid') AND i.due_date < $1 AND i.account_id = $2
ORDER BY i.due_date, i.number
"""


def hold_reason(numbers: list[str], days: int, today: date) -> str:
    """What the account (and the CSP on its page) reads on every page while it is on hold; dated, so it stays true."""
    listed = ", ".join(numbers)
    if len(numbers) == 1:
        overdue = f"{listed} was {days} days overdue"
    else:
        overdue = f"{listed} were overdue, the oldest by {days} days"
    return (
        f"The subscriptions billed to this account were suspended on {today.isoformat()} because {overdue}. "
        "Paying the overdue balance reactivates them automatically."
    )


async def due(now: datetime) -> dict[str, int]:
    """Once a day: the steps each overdue invoice has reached and not taken yet. A clock moved past several steps
    takes each of them, in order: every reminder due, dated the day it fell due, then the suspension (NCE_RULES 5).
    The automatic card retries are the scheduler's next check (`payments.due`): payments build on dunning (a
    payment lifts the hold), not the other way round."""
    today = now.date()
    if not await lifecycle.claim_day("dunning", today):
        return {}
    defaults = await options.settings()
    # which accounts to look at, read without a lock; what each owes is read again under its lock
    accounts = await db.fetch_column(
        "SELECT DISTINCT account_id FROM invoices WHERE kind = 'invoice' AND status IN ('issued', 'partially_paid') "
        "AND due_date < $1 ORDER BY account_id",
        today,
    )
    reminders, suspensions = 0, 0
    for account_id in accounts:
        sent, suspended = await _catch_up(account_id, defaults, now)
        reminders += sent
        suspensions += suspended
    return {"reminders": reminders, "suspensions": suspensions}


Step = tuple[dict, date, str, date]  # the overdue invoice's row, its anchor, the step, the day the step fell due


async def _catch_up(account_id: uuid.UUID, defaults: dict, now: datetime) -> tuple[int, bool]:
    """One account's steps not taken yet, in one transaction with their mails (a step is never recorded without
    them): one reminder mail per day a reminder fell due, oldest first, then the suspension. Returns the reminder
    mails sent and whether the account was suspended."""
    today = now.date()
    async with db.transaction():
        # first: the lock order of app/billing/locks.py. The overdue invoices are read under it, since a payment
        # takes it too: one that committed while the pass ran is seen here (nothing is reminded or suspended for
        # an invoice paid already), and one after waits for the suspension and then lifts it.
        await locks.account(account_id)
        planned: list[Step] = []
        for row in await db.fetch(OVERDUE_SQL, today, account_id):
            policy = (await options.terms_of(row, defaults)).policy
            anchor = rules.dunning_anchor(row["due_date"], row["last_payment_on"])
            planned.extend(
                (row, anchor, step, rules.dunning_step_day(anchor, step, policy))
                for step in rules.dunning_steps(anchor, policy, today)
            )
        taken = await _take(planned, today)
        by_day: dict[date, list[Step]] = {}
        for taken_step in taken:
            if taken_step[2] != "suspend":
                by_day.setdefault(taken_step[3], []).append(taken_step)
        for day in sorted(by_day):
            await _remind(by_day[day], day, now)
        overdue = [row for row, _, step, _ in taken if step == "suspend"]
        if overdue:
            await suspend(account_id, overdue, today)
    return len(by_day), bool(overdue)


async def _take(planned: list[Step], today: date) -> list[Step]:
    """Record the steps; only those not taken before come back (each once per invoice and anchor)."""
    if not planned:
        return []
    rows = await db.fetch(
        "INSERT INTO dunning_steps (invoice_id, anchor, step, taken_on) "
        "SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::date[]) ON CONFLICT DO NOTHING "
        "RETURNING invoice_id, anchor, step",
        [row["id"] for row, _, _, _ in planned],
        [anchor for _, anchor, _, _ in planned],
        [step for _, _, step, _ in planned],
        [today] * len(planned),
    )
    new = {(r["invoice_id"], r["anchor"], r["step"]) for r in rows}
    return [planned_step for planned_step in planned if (planned_step[0]["id"], *planned_step[1:3]) in new]


def _buyer(row: dict) -> dict:
    return json.loads(row["buyer"]) if isinstance(row["buyer"], str) else row["buyer"]


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


async def _remind(steps: list[Step], day: date, now: datetime) -> None:
    """The reminder that fell due on `day`: one mail for the account naming each invoice whose reminder it is, with
    its days overdue on that day, and dated that day when a moved clock caught up with it."""
    reminded: dict[uuid.UUID, tuple[dict, date]] = {}
    for row, anchor, _, _ in steps:
        reminded[row["id"]] = (row, anchor)
    lines = [
        f"- {row['number']}: {row['balance']:.2f} {row['currency']}, due {row['due_date']}, "
        f"{_days((day - anchor).days)} overdue"
        for row, anchor in reminded.values()
    ]
    buyer = _buyer(next(iter(reminded.values()))[0])
    dated = now if day == now.date() else datetime.combine(day, now.timetz())
    for row, anchor in reminded.values():
        await audit.record(
            None, "invoice", row["id"], "payment_reminder", {}, {"days_overdue": (day - anchor).days, "on": day}
        )
    await mail.send(
        buyer["email"],
        "Payment reminder: " + ", ".join(row["number"] for row, _ in reminded.values()),
        f"Hello {buyer['name']},\n\nAs of {day.isoformat()}, these invoices are overdue:\n" + "\n".join(lines)
        + "\n\nPlease pay them to keep your subscriptions running. You can pay by card on each invoice's page.\n",
        dated=dated,
    )  # fmt: skip


async def suspend(account_id: uuid.UUID, rows: list[dict], today: date) -> int:
    """Put the account on hold and queue the suspension of every active subscription billed to it."""
    async with db.transaction():
        account = await locks.account(account_id)  # first: the lock order of app/billing/locks.py
        queued = await _queue_status(account_id, "active", "suspended")
        if account["payment_hold"] and account["hold_reason"]:
            # held already: one more overdue invoice; the reason keeps the day of the suspension, and no new mail
            return queued
        numbers = await db.fetch_column(
            "SELECT number FROM invoices WHERE account_id = $1 AND kind = 'invoice' "
            "AND status IN ('issued', 'partially_paid') AND due_date < $2 ORDER BY number",
            account_id,
            today,
        )
        days = max((today - rules.dunning_anchor(r["due_date"], r["last_payment_on"])).days for r in rows)
        reason = hold_reason(numbers, days, today)
        await db.execute(
            "UPDATE accounts SET payment_hold = true, hold_reason = $2, updated_at = $3 WHERE id = $1",
            account_id,
            reason,
            clock.now(),
        )
        await audit.record(None, "account", account_id, "suspended_for_nonpayment",
                           {"payment_hold": account["payment_hold"]},
                           {"payment_hold": True, "invoices": numbers, "subscriptions": queued})  # fmt: skip
        buyer = _buyer(rows[0])
        await mail.send(
            buyer["email"],
            f"Subscriptions suspended: {', '.join(numbers)} overdue",
            f"Hello {buyer['name']},\n\n{reason}\n\n{queued} subscription(s) are being suspended. New orders are on "
            "hold until the overdue balance is paid.\n",
        )
    return queued


async def _queue_status(account_id: uuid.UUID, current: str, target: str) -> int:
    """Queue the status change of the subscriptions billed to the account (suspension: the active ones; reactivation:
    those the non-payment rules suspended), each its own operation, as a person's change would be. The caller holds
    the account's lock; the subscriptions come after it, by id (app/billing/locks.py)."""
    flagged = "" if target == "suspended" else " AND suspended_for_nonpayment"
    subs = await db.fetch(
        f"SELECT id, customer_id FROM subscriptions WHERE bill_to_id = $1 AND status = $2 "
        f"AND partner_center_id IS NOT NULL{flagged} ORDER BY id FOR NO KEY UPDATE",
        account_id,
        current,
    )
    for sub in subs:
        operation = await operations.create(changes.JOB, None, account_id=sub["customer_id"], subject_id=str(sub["id"]))
        await queue.enqueue(
            changes.JOB,
            {"subscription_id": str(sub["id"]), "operation_id": str(operation["id"]), "actor": "",
             "actor_email": None, "status": target, "reason": "nonpayment"},
            dedupe_key=f"{changes.JOB}:{operation['id']}",
        )  # fmt: skip
    return len(subs)


async def after_payment(account_id: uuid.UUID) -> None:
    """Once nothing is overdue, lift the hold and reactivate what the non-payment rules suspended (in the paying
    transaction)."""
    account = await locks.account(account_id)  # held already when the payment locked its invoice
    if not account["payment_hold"] or not account["hold_reason"]:
        return
    overdue = await db.fetchval(
        "SELECT count(*) FROM invoices WHERE account_id = $1 AND kind = 'invoice' "
        "AND status IN ('issued', 'partially_paid') AND due_date < $2",
        account_id,
        clock.now().date(),
    )
    if overdue:
        return
    await db.execute(
        "UPDATE accounts SET payment_hold = false, hold_reason = '', updated_at = $2 WHERE id = $1",
        account_id,
        clock.now(),
    )
    queued = await _queue_status(account_id, "suspended", "active")
    await audit.record(None, "account", account_id, "reactivated_after_payment", {"payment_hold": True},
                       {"payment_hold": False, "subscriptions": queued})  # fmt: skip
    await mail.send(
        account["email"],
        "Overdue balance paid: subscriptions reactivated",
        f"Hello {account['name']},\n\nThank you: nothing is overdue any more. {queued} subscription(s) are being "
        "reactivated, and you can order again.\n",
    )
