"""The single-row reads and writes of the catalog's and billing's settings, FX rates and tax rates (now through
their Piccolo tables): a second write to the same key replaces the first, a delete removes one row, and a missing
row is not found."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app import clock
from app.billing import options
from app.billing.rules import TaxRate
from app.catalog import service as catalog
from app.errors import NotFound
from tests import factories

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)


async def test_an_fx_rate_is_set_again_by_its_key_and_deleted_once(tx):
    admin = factories.SYSTEM_ADMIN
    with clock.use_fixed_clock(NOW):
        await catalog.add_fx_rate(admin, {"from": "eur", "to": "usd", "rate": "1.08", "effective_from": "2027-03-01"})
        await catalog.add_fx_rate(admin, {"from": "GBP", "to": "USD", "rate": "1.27", "effective_from": "2027-01-01"})
        await catalog.add_fx_rate(admin, {"from": "EUR", "to": "USD", "rate": "1.10", "effective_from": "2027-03-01"})
    rates = [
        (r["from_currency"], r["to_currency"], r["effective_from"], r["rate"]) for r in await catalog.list_fx_rates()
    ]
    assert rates == [
        ("EUR", "USD", date(2027, 3, 1), Decimal("1.10000000")),  # the second write replaced the first
        ("GBP", "USD", date(2027, 1, 1), Decimal("1.27000000")),
    ]
    await catalog.delete_fx_rate(admin, "EUR", "USD", date(2027, 3, 1))
    assert [r["from_currency"] for r in await catalog.list_fx_rates()] == ["GBP"]
    with pytest.raises(NotFound):
        await catalog.delete_fx_rate(admin, "EUR", "USD", date(2027, 3, 1))


async def test_a_tax_rate_is_set_again_by_its_country_and_deleted(tx):
    admin = factories.SYSTEM_ADMIN
    with clock.use_fixed_clock(NOW):
        await options.set_tax_rate(admin, {"country": "nl", "label": "BTW", "rate": "9"})
        await options.set_tax_rate(admin, {"country": "AT", "label": "USt", "rate": "20"})
        await options.set_tax_rate(admin, {"country": "NL", "label": "BTW hoog", "rate": "21", "reverse_charge": True})
    assert await options.tax_rates() == [
        TaxRate("AT", "USt", Decimal("20.0000"), False),
        TaxRate("NL", "BTW hoog", Decimal("21.0000"), True),
    ]
    await options.delete_tax_rate(admin, "nl")
    assert [r.country for r in await options.tax_rates()] == ["AT"]


async def test_the_seller_and_the_catalog_settings_are_one_row_each(tx):
    admin = factories.SYSTEM_ADMIN
    seller = {
        "seller_name": " Contoso CSP GmbH ",
        "seller_address": "Hauptstr. 1, Berlin",
        "seller_country": "de",
        "seller_tax_id": "DE123456789",
        "payment_instructions": "IBAN DE00 0000",
    }
    with clock.use_fixed_clock(NOW):
        stored = await options.update_seller(admin, seller)
        settings = await catalog.update_settings(
            admin,
            {
                "markets": "us, gb US",
                "currencies": "usd gbp",
                "default_margin_kind": "markup_on_cost",
                "default_margin_percent": "12.5",
            },
        )
    assert options.seller_of(stored) == {
        "name": "Contoso CSP GmbH",
        "address": "Hauptstr. 1, Berlin",
        "country": "DE",
        "tax_id": "DE123456789",
        "payment_instructions": "IBAN DE00 0000",
    }
    assert stored["updated_at"] == NOW
    assert (stored["payment_terms_days"], stored["reminder_days"]) == (14, [1, 7])  # the rest of the row is kept
    assert settings == await catalog.catalog_settings()
    assert (settings["markets"], settings["currencies"]) == (["US", "GB"], ["USD", "GBP"])
    assert (settings["default_margin_kind"], settings["default_margin_percent"]) == ("markup_on_cost", Decimal("12.5"))
    assert settings["updated_at"] == NOW
