"""Postal codes, countries and currencies on billing addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.accounts.address_rules import (
    COUNTRIES_WITHOUT_POSTAL_CODES,
    POSTAL_CODE_FORMATS,
    country_error,
    country_name,
    currency_error,
    normalize_postal_code,
    postal_code_error,
)

pytestmark = pytest.mark.unit

# Real addresses where we know one (Berlin Mitte, Paris 8e, Westminster, Dublin 2, Sydney, Tokyo
# Chiyoda, New Delhi...), in the form the national post writes them.
VALID: dict[str, list[str]] = {
    "US": ["10001", "90210", "20500-0003"],
    "CA": ["K1A 0B1", "H3Z 2Y7", "T0L 1K0", "V8X 3X4"],
    "MX": ["06500", "64000"],
    "GB": ["SW1A 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "GIR 0AA"],
    "JE": ["JE2 3QA", "JE1 1BB"],
    "GG": ["GY1 1AA", "GY10 1SB"],
    "IM": ["IM1 1AD", "IM99 1PS"],
    "IE": ["D02 X285", "A65 F4E2", "T12 X70A", "D6W 6K20"],
    "DE": ["10115", "80331", "01067"],
    "FR": ["75008", "13001", "97400"],
    "NL": ["1012 JS", "2511 CV"],
    "BE": ["1000", "2000"],
    "LU": ["1009", "2449"],
    "AT": ["1010", "5020"],
    "CH": ["8001", "3003", "1211"],
    "LI": ["9490", "9485"],
    "IT": ["00184", "20121"],
    "SM": ["47890"],
    "VA": ["00120"],
    "MC": ["98000"],
    "ES": ["28013", "08001", "52001"],
    "AD": ["AD500", "AD100"],
    "PT": ["1000-001", "4050-253"],
    "MT": ["VLT 1117", "SLM 1549"],
    "SE": ["113 51", "123 45"],
    "NO": ["0150", "5003"],
    "DK": ["1050", "8000"],
    "FI": ["00100", "33100"],
    "IS": ["101"],
    "PL": ["00-950", "30-001"],
    "CZ": ["110 00", "602 00"],
    "SK": ["811 01", "040 01"],
    "HU": ["1051", "6720"],
    "RO": ["010011", "400001"],
    "BG": ["1000", "9000"],
    "HR": ["10000", "21000"],
    "SI": ["1000", "2000"],
    "RS": ["11000"],
    "UA": ["01001"],
    "GR": ["105 57", "546 21"],
    "CY": ["1010"],
    "TR": ["06100", "34110"],
    "EE": ["10111", "51003"],
    "LV": ["LV-1050", "LV-3601"],
    "LT": ["LT-01100", "LT-44280"],
    "AU": ["2000", "0800", "3000"],
    "NZ": ["6011", "1010"],
    "JP": ["100-0001", "530-0001"],
    "KR": ["03187", "04524"],
    "CN": ["100000", "200001"],
    "IN": ["110001", "400001"],
    "SG": ["018956", "238823"],
    "MY": ["50000"],
    "TH": ["10200"],
    "PH": ["1000"],
    "ID": ["10110"],
    "IL": ["9195015", "6100000"],
    "SA": ["11564", "11564-2345"],
    "ZA": ["8001", "2001"],
    "BR": ["01310-100", "20040-020"],
    "AR": ["C1002AAR", "B1900AAA", "1002"],
}

# Wrong length, letters where digits go, or characters the national format rules out.
INVALID: dict[str, list[str]] = {
    "US": ["1234", "123456", "ABCDE", "12345-678"],
    "CA": ["D1A 0B1", "W1A 1A1", "K1A 0BB", "12345"],
    "MX": ["6500", "ABCDE"],
    "GB": ["SW1A 1CA", "QA1 1AA", "SW1A", "SW1A 1AAA", "12345"],
    "JE": ["JE10 1AA", "GY1 1AA"],
    "GG": ["GY1", "JE2 3QA"],
    "IM": ["IM1 1CD", "IM123 1AA"],
    "IE": ["B02 X285", "D02 X28", "D02 XB85", "12345"],
    "DE": ["1011", "101150", "1O115"],
    "FR": ["7500", "750088"],
    "NL": ["0123 AB", "1234 SA", "1234"],
    "BE": ["0999", "10000"],
    "LU": ["10099", "ABCD"],
    "AT": ["0101", "10100"],
    "CH": ["0800", "80010"],
    "LI": ["9499", "8001"],
    "IT": ["0184", "001845"],
    "SM": ["47900"],
    "VA": ["00121"],
    "MC": ["98100"],
    "ES": ["53001", "00123", "2801"],
    "AD": ["500", "AD5000"],
    "PT": ["0100-001", "1000-01", "1000"],
    "MT": ["VLT 11", "VL 1117"],
    "SE": ["012 34", "1234"],
    "NO": ["150", "01500"],
    "DK": ["105", "10500"],
    "FI": ["0010", "001000"],
    "IS": ["1010"],
    "PL": ["00-95", "009500"],
    "CZ": ["810 00", "1100"],
    "SK": ["110 00", "8110"],
    "HU": ["0123", "10510"],
    "RO": ["01001", "0100111"],
    "BG": ["0100", "10000"],
    "HR": ["60000", "1000"],
    "SI": ["0100", "10000"],
    "RS": ["1100"],
    "UA": ["0100"],
    "GR": ["905 57", "1055"],
    "CY": ["101"],
    "TR": ["00100", "82000", "3411"],
    "EE": ["1011"],
    "LV": ["LV-105", "LT-1050"],
    "LT": ["LT-0110", "LV-01100"],
    "AU": ["200", "20000"],
    "NZ": ["601"],
    "JP": ["100-001", "100-00011"],
    "KR": ["0318", "100-011"],
    "CN": ["10000"],
    "IN": ["011000", "11001"],
    "SG": ["18956"],
    "MY": ["5000"],
    "TH": ["1020"],
    "PH": ["100"],
    "ID": ["1011"],
    "IL": ["91950", "91950155"],
    "SA": ["1156"],
    "ZA": ["800", "80011"],
    "BR": ["01310-10", "1310-100"],
    "AR": ["I1002AAR", "C1002AA"],
}


def _cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(country, code) for country, codes in table.items() for code in codes]


def test_enough_countries_have_a_postal_code_format() -> None:
    assert len(POSTAL_CODE_FORMATS) >= 35


def test_every_format_has_valid_and_invalid_examples_here() -> None:
    assert set(VALID) == set(POSTAL_CODE_FORMATS)
    assert set(INVALID) == set(POSTAL_CODE_FORMATS)


@pytest.mark.parametrize(("country", "code"), _cases(VALID))
def test_valid_postal_code(country: str, code: str) -> None:
    assert postal_code_error(country, code) is None
    # Already in canonical form, so normalising leaves it alone.
    assert normalize_postal_code(country, code) == code


@pytest.mark.parametrize(("country", "code"), _cases(INVALID))
def test_invalid_postal_code(country: str, code: str) -> None:
    example = POSTAL_CODE_FORMATS[country][1]
    message = postal_code_error(country, code)
    assert message is not None
    assert message.startswith("Enter a valid postal code for ")
    assert message.endswith(f", like {example}.")


@pytest.mark.parametrize("country", sorted(POSTAL_CODE_FORMATS))
def test_the_example_in_each_message_is_itself_valid(country: str) -> None:
    for example in POSTAL_CODE_FORMATS[country][1].split(" or "):
        assert postal_code_error(country, example) is None, example


@pytest.mark.parametrize(
    ("country", "typed", "normalized"),
    [
        ("GB", "sw1a1aa", "SW1A 1AA"),
        ("GB", "  sw1a   1aa ", "SW1A 1AA"),
        ("GB", "m11ae", "M1 1AE"),
        ("GB", "gir0aa", "GIR 0AA"),
        ("CA", "k1a0b1", "K1A 0B1"),
        ("CA", "K1A-0B1", "K1A 0B1"),
        ("IE", "d02x285", "D02 X285"),
        ("IE", "d6w6k20", "D6W 6K20"),
        ("NL", "1012js", "1012 JS"),
        ("SE", "12345", "123 45"),
        ("CZ", "11000", "110 00"),
        ("SK", "81101", "811 01"),
        ("GR", "10557", "105 57"),
        ("MT", "vlt1117", "VLT 1117"),
        ("PL", "00950", "00-950"),
        ("PT", "1000001", "1000-001"),
        ("JP", "1000001", "100-0001"),
        ("BR", "01310100", "01310-100"),
        ("US", "205000003", "20500-0003"),
        ("US", "20500 0003", "20500-0003"),
        ("US", "10001", "10001"),
        ("LV", "1050", "LV-1050"),
        ("LV", "lv1050", "LV-1050"),
        ("LV", "LV 1050", "LV-1050"),
        ("LT", "01100", "LT-01100"),
        ("LT", "lt 01100", "LT-01100"),
        ("AD", "ad 500", "AD500"),
        ("IN", "110 001", "110001"),
        ("DE", "  10115 ", "10115"),
        ("AR", "c1002aar", "C1002AAR"),
        # Unknown formats and wrong codes only get case and spacing tidied, for the error message.
        ("EG", " ab   12 ", "AB 12"),
        ("GB", "not  a code", "NOT A CODE"),
        ("SE", "1234", "1234"),
        ("HK", "", ""),
    ],
)
def test_normalize_postal_code(country: str, typed: str, normalized: str) -> None:
    assert normalize_postal_code(country, typed) == normalized


def test_typed_codes_are_judged_after_normalising() -> None:
    assert postal_code_error("GB", "sw1a1aa") is None
    assert postal_code_error("CA", "k1a0b1") is None
    assert postal_code_error("SE", "12345") is None
    assert postal_code_error("LT", "01100") is None


def test_messages_name_the_country_and_show_an_example() -> None:
    assert postal_code_error("DE", "1011") == "Enter a valid postal code for Germany, like 10115."
    assert postal_code_error("FR", "7500") == "Enter a valid postal code for France, like 75008."
    assert postal_code_error("IE", "D02") == "Enter a valid postal code for Ireland, like D02 X285."
    assert postal_code_error("US", "1234") == (
        "Enter a valid postal code for the United States, like 12345 or 12345-6789."
    )
    assert postal_code_error("NL", "1234") == "Enter a valid postal code for the Netherlands, like 1234 AB."
    assert postal_code_error("GB", "SW1") == "Enter a valid postal code for the United Kingdom, like SW1A 1AA."


@pytest.mark.parametrize("code", ["", "   "])
def test_a_country_with_postal_codes_needs_one(code: str) -> None:
    assert postal_code_error("DE", code) == "Enter a postal code."
    assert postal_code_error("IE", code) == "Enter a postal code."


def test_countries_without_postal_codes() -> None:
    assert {"HK", "AE", "QA"} <= COUNTRIES_WITHOUT_POSTAL_CODES
    assert "IE" not in COUNTRIES_WITHOUT_POSTAL_CODES
    assert not COUNTRIES_WITHOUT_POSTAL_CODES & set(POSTAL_CODE_FORMATS)
    assert postal_code_error("HK", "") is None
    assert postal_code_error("AE", "  ") is None
    assert postal_code_error("HK", "999077") == "Hong Kong SAR China does not use postal codes. Leave this empty."
    assert postal_code_error("AE", "00000") == ("The United Arab Emirates does not use postal codes. Leave this empty.")


def test_countries_without_a_known_format_accept_any_plausible_code() -> None:
    assert postal_code_error("EG", "12411") is None
    assert postal_code_error("AM", "0010") is None
    assert postal_code_error("BM", "hm 12") is None
    assert postal_code_error("EG", "") is None
    assert postal_code_error("EG", "A" * 12) is None
    message = "Enter a postal code of up to 12 letters, digits, spaces or hyphens."
    assert postal_code_error("EG", "A" * 13) == message
    assert postal_code_error("EG", "12#41") == message
    assert postal_code_error("EG", "-") == message


def test_postal_code_checks_tolerate_a_lower_case_country() -> None:
    assert postal_code_error("de", "10115") is None
    assert normalize_postal_code("gb", "sw1a1aa") == "SW1A 1AA"


@pytest.mark.parametrize("country", ["DE", "US", "GB", "IE", "JP", "HK", "XK", "AQ"])
def test_valid_country(country: str) -> None:
    assert country_error(country) is None


@pytest.mark.parametrize("country", ["", "D", "de", "DEU", "001", "150", "ZZ", "EU", "UN", "XA", "QO", "AC", "UK"])
def test_invalid_country(country: str) -> None:
    assert country_error(country) == "Choose a country by its two-letter ISO code, like DE."


def test_every_country_with_postal_rules_is_a_valid_country() -> None:
    for country in set(POSTAL_CODE_FORMATS) | COUNTRIES_WITHOUT_POSTAL_CODES:
        assert country_error(country) is None, country


def test_country_name() -> None:
    assert country_name("DE") == "Germany"
    assert country_name("GB") == "United Kingdom"
    assert country_name("JP") == "Japan"
    assert country_name("XK") == "Kosovo"
    assert country_name("ZZ") == "ZZ"


@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY", "GBP", "CHF", "AUD", "INR", "BRL"])
def test_valid_currency(currency: str) -> None:
    assert currency_error(currency) is None


# Withdrawn currencies (DEM, HRK), units that are not money (XAU, XXX) and anything not upper case.
@pytest.mark.parametrize("currency", ["EURO", "XYZ", "", "eur", "EU", "DEM", "HRK", "XAU", "XXX"])
def test_invalid_currency(currency: str) -> None:
    assert currency_error(currency) == "Choose a currency by its ISO 4217 code, like EUR."


@given(country=st.sampled_from([*POSTAL_CODE_FORMATS, "HK", "EG", "ZZ"]), typed=st.text(max_size=20))
def test_normalising_is_idempotent_and_checking_never_raises(country: str, typed: str) -> None:
    once = normalize_postal_code(country, typed)
    assert normalize_postal_code(country, once) == once
    assert postal_code_error(country, typed) == postal_code_error(country, once)
