"""Billing runs (NCE_RULES 5): one invoice per bill-to account and currency, credits netted, a credit note when the
result is negative, tax per rate, gapless numbers per series that concurrent runs never share or skip, idempotent
reruns, resuming after a crash, immutable documents, and runs scheduled on each billing day."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import pytest

from app import clock, db
from app.billing import options, runs
from tests import factories
from tests.integration.billing_fixtures import charge, subscription

pytestmark = pytest.mark.integration

JAN = datetime(2027, 1, 20, 9, tzinfo=UTC)


async def run_now(as_of: date | None = None, batch: int = runs.BATCH_ACCOUNTS, **fields) -> uuid.UUID:
    """A run as the job does it (without the follow-up mails), returning its id."""
    run_id = uuid.uuid4()
    today = clock.now().date()
    async with db.transaction():
        await runs._create(run_id, as_of or today, today, fields.get("billing_day"), fields.get("account_id"), None)
    row = await db.fetchrow("SELECT * FROM billing_runs WHERE id = $1", run_id)
    while await runs.issue_batch(row, batch):
        pass
    return run_id


async def documents() -> list[dict]:
    return await db.fetch("SELECT * FROM invoices ORDER BY number")


async def set_seller(country: str) -> None:
    await options.update_seller(factories.SYSTEM_ADMIN, {"seller_name": "Contoso CSP B.V.", "seller_country": country})


async def test_one_invoice_per_account_and_currency_with_credits_netted(committed):
    with clock.use_fixed_clock(JAN):
        direct = await factories.customer(currency="EUR", country="DE")
        reseller = await factories.reseller(currency="USD")
        resold = await factories.customer(reseller["id"], currency="USD")
        own = await subscription(direct)
        await charge(own, "100.00")
        await charge(own, "-30.00", charge_type="remove_quantity")
        for _ in range(2):
            sub = await subscription(resold, bill_to=reseller)
            await charge(sub, "19.99")
        await run_now()
        docs = await documents()
        lines = await db.fetch("SELECT * FROM invoice_lines ORDER BY amount")
    assert len(docs) == 2
    by_account = {d["account_id"]: d for d in docs}
    assert by_account[direct["id"]]["subtotal"] == Decimal("70.00")  # the credit nets against the charge
    assert by_account[direct["id"]]["lines_count"] == 2
    assert by_account[reseller["id"]]["subtotal"] == Decimal("39.98")  # the reseller pays for its customers
    assert {d["number"] for d in docs} == {"INV-2027-000001", "INV-2027-000002"}
    assert all(d["status"] == "issued" and d["due_date"] == date(2027, 2, 3) for d in docs)  # 14 days by default
    assert {line["customer_name"] for line in lines if line["invoice_id"] == by_account[reseller["id"]]["id"]} == {
        resold["name"]
    }
    assert not await db.fetchval("SELECT count(*) FROM charges WHERE invoice_id IS NULL")


async def test_a_negative_result_issues_a_credit_note_in_its_own_series(committed):
    with clock.use_fixed_clock(JAN):
        account = await factories.customer(currency="USD")
        sub = await subscription(account)
        await charge(sub, "-45.50", charge_type="cancel")
        await charge(sub, "5.50", charge_type="add_quantity")
        await run_now()
        (doc,) = await documents()
    assert (doc["kind"], doc["number"], doc["subtotal"], doc["total"]) == (
        "credit_note", "CN-2027-000001", Decimal("-40.00"), Decimal("-40.00"),
    )  # fmt: skip
    assert doc["status"] == "issued"


async def test_tax_per_buyer_country_with_reverse_charge_for_businesses_across_borders(committed):
    admin = factories.SYSTEM_ADMIN
    with clock.use_fixed_clock(JAN):
        await set_seller("FR")
        await options.set_tax_rate(admin, {"country": "FR", "label": "TVA", "rate": "20", "reverse_charge": True})
        await options.set_tax_rate(admin, {"country": "DE", "label": "USt", "rate": "19", "reverse_charge": True})
        await options.set_tax_rate(admin, {"country": "GB", "label": "VAT", "rate": "20"})
        buyers = {
            "FR": await factories.customer(country="FR", currency="EUR", postal_code="75004", city="Paris"),
            "DE": await factories.customer(country="DE", currency="EUR", postal_code="10117", city="Berlin"),
            "GB": await factories.customer(country="GB", currency="GBP", postal_code="SW1A 2AA", city="London"),
            "US": await factories.customer(country="US", currency="USD"),
            "DE-B2C": await factories.customer(country="DE", currency="EUR", postal_code="80807", city="München"),
        }
        for key, buyer in buyers.items():
            if key != "DE-B2C":  # every buyer but one is a business with a VAT id
                await options.set_billing_options(admin, buyer["id"], {"tax_id": f"{key}123456789"})
            await charge(await subscription(buyer), "33.33")
        await run_now()
        rows = await db.fetch("SELECT i.*, a.id AS buyer_id FROM invoices i JOIN accounts a ON a.id = i.account_id")
        docs = {key: next(r for r in rows if r["buyer_id"] == buyer["id"]) for key, buyer in buyers.items()}
    assert (docs["FR"]["tax_label"], docs["FR"]["tax"], docs["FR"]["total"]) == (
        "TVA",
        Decimal("6.67"),
        Decimal("40.00"),
    )
    assert (docs["DE"]["tax_label"], docs["DE"]["tax"], docs["DE"]["reverse_charge"]) == (
        "USt, reverse charge", Decimal("0.00"), True,
    )  # fmt: skip
    assert json.loads(docs["DE"]["buyer"])["tax_id"] == "DE123456789"  # printed on the invoice, as reverse charge needs
    no_vat_id = docs["DE-B2C"]  # not a business buyer: its country's rate
    assert (no_vat_id["tax_label"], no_vat_id["tax"], no_vat_id["reverse_charge"]) == ("USt", Decimal("6.33"), False)
    assert (docs["GB"]["tax_rate"], docs["GB"]["tax"]) == (Decimal("20"), Decimal("6.67"))  # no reverse charge set
    assert (docs["US"]["tax_label"], docs["US"]["tax"], docs["US"]["total"]) == (
        "No tax",
        Decimal("0"),
        Decimal("33.33"),
    )


async def test_a_rerun_invoices_nothing_twice_and_later_charges_go_on_the_next_invoice(committed):
    with clock.use_fixed_clock(JAN):
        account = await factories.customer()
        sub = await subscription(account)
        await charge(sub, "10.00", posted_on=date(2027, 1, 19))
        await charge(sub, "20.00", posted_on=date(2027, 1, 21))  # not due yet on the 20th
        await run_now()
        await run_now()
        assert [(d["number"], d["subtotal"]) for d in await documents()] == [("INV-2027-000001", Decimal("10.00"))]
    with clock.use_fixed_clock(datetime(2027, 1, 25, tzinfo=UTC)):
        await run_now()
        assert [(d["number"], d["subtotal"]) for d in await documents()] == [
            ("INV-2027-000001", Decimal("10.00")),
            ("INV-2027-000002", Decimal("20.00")),
        ]


async def test_a_run_that_crashes_mid_way_resumes_without_duplicates_or_gaps(committed):
    """Batches of one account; the third batch fails in the database; the retry carries on from there."""
    with clock.use_fixed_clock(JAN):
        accounts = [await factories.customer() for _ in range(5)]
        for account in accounts:
            await charge(await subscription(account), "12.00")
        doomed = sorted(a["id"] for a in accounts)[2]
        await db.execute(
            "CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.account_id = '{doomed}' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$; "
            "CREATE TRIGGER fail_once BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION fail_once()"
        )
        try:
            with pytest.raises(asyncpg.RaiseError, match="disk full"):
                await run_now(batch=1)
        finally:
            await db.execute("DROP TRIGGER fail_once ON invoices; DROP FUNCTION fail_once()")
        assert len(await documents()) == 2  # two batches committed, the third rolled back with its number
        await run_now(batch=1)
        docs = await documents()
    assert [d["number"] for d in docs] == [f"INV-2027-{n:06d}" for n in range(1, 6)]
    assert len({d["account_id"] for d in docs}) == 5
    assert await db.fetchval("SELECT count(*) FROM invoice_lines") == 5


async def test_concurrent_runs_never_share_or_skip_a_number(committed):
    with clock.use_fixed_clock(JAN):
        accounts = [await factories.customer() for _ in range(12)]
        for account in accounts:
            sub = await subscription(account)
            await charge(sub, "7.00")
            await charge(sub, "-1.00", charge_type="remove_quantity")
        await asyncio.gather(*(run_now(batch=2) for _ in range(4)))
        docs = await documents()
        invoiced = await db.fetch("SELECT charge_id, count(*) AS n FROM invoice_lines GROUP BY charge_id")
    assert [d["number"] for d in docs] == [f"INV-2027-{n:06d}" for n in range(1, 13)]
    assert len(invoiced) == 24
    assert all(r["n"] == 1 for r in invoiced)


async def test_issued_documents_and_invoiced_charges_cannot_be_edited(committed):
    with clock.use_fixed_clock(JAN):
        sub = await subscription(await factories.customer())
        charge_id = await charge(sub, "10.00")
        await run_now()
        (doc,) = await documents()
        with pytest.raises(asyncpg.CheckViolationError, match="credit note"):
            await db.execute("UPDATE invoices SET total = 1 WHERE id = $1", doc["id"])
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute("DELETE FROM invoices WHERE id = $1", doc["id"])
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute("UPDATE invoice_lines SET amount = 1 WHERE invoice_id = $1", doc["id"])
        with pytest.raises(asyncpg.CheckViolationError, match="invoiced"):
            await db.execute("UPDATE charges SET amount = 1 WHERE id = $1", charge_id)
        # the payment state is the one thing that moves
        await db.execute("UPDATE invoices SET amount_paid = 5, status = 'partially_paid' WHERE id = $1", doc["id"])


async def test_scheduled_runs_fall_on_each_billing_day_a_moved_clock_passes(committed):
    with clock.use_fixed_clock(datetime(2027, 1, 20, tzinfo=UTC)) as fixed:
        first = await factories.customer()
        fifteenth = await factories.customer()
        await db.execute("UPDATE accounts SET billing_day = 15 WHERE id = $1", fifteenth["id"])
        await runs.due(clock.now())  # the first tick: nothing before today
        for account in (first, fifteenth):
            sub = await subscription(account)
            await charge(sub, "10.00", posted_on=date(2027, 1, 20))
            await charge(sub, "11.00", posted_on=date(2027, 2, 1))  # an installment on the billing day itself
        fixed.advance(days=40)  # 2027-03-01
        assert await runs.due(clock.now()) == 3  # Feb 1, Feb 15, Mar 1
        assert await runs.due(clock.now()) == 0
        for run in await db.fetch("SELECT * FROM billing_runs ORDER BY issue_date"):
            while await runs.issue_batch(run):
                pass
        rows = await db.fetch(
            "SELECT i.number, i.issue_date, i.subtotal, r.as_of, i.account_id FROM invoices i "
            "JOIN billing_runs r ON r.id = i.run_id ORDER BY i.number"
        )
    assert [(r["issue_date"], r["as_of"], r["subtotal"], r["account_id"]) for r in rows] == [
        (date(2027, 2, 1), date(2027, 1, 31), Decimal("10.00"), first["id"]),  # the 1st's installment waits
        (date(2027, 2, 15), date(2027, 2, 14), Decimal("21.00"), fifteenth["id"]),
        (date(2027, 3, 1), date(2027, 2, 28), Decimal("11.00"), first["id"]),
    ]
