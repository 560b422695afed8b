"""Countries, currencies and postal codes on billing addresses. Pure: plain values in, decisions out.

Postal codes are checked against each country's national format so that invoices and customer
profiles carry addresses the post office will deliver to, written the way that country writes them.
"""

from __future__ import annotations

import re

from babel import Locale
from babel.core import get_global

_ENGLISH = Locale("en")


def _format(pattern: str, example: str) -> tuple[re.Pattern[str], str]:
    return re.compile(pattern), example


# Patterns describe the canonical written form (upper case, national spacing); normalize_postal_code
# brings typed input to that form first, so the patterns can stay strict without rejecting "sw1a1aa".
POSTAL_CODE_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    # North America
    "US": _format(r"\d{5}(?:-\d{4})?", "12345 or 12345-6789"),
    # Canada Post never uses D, F, I, O, Q or U (too easily misread), nor W or Z as the first letter.
    "CA": _format(r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d", "K1A 0B1"),
    "MX": _format(r"\d{5}", "06500"),
    # British Isles. Royal Mail letter rules: the area never starts with Q, V or X, its second letter
    # is never I, J or Z, and the inward unit never uses C, I, K, M, O or V. GIR 0AA is the one
    # historic exception (Girobank) still in service.
    "GB": _format(
        r"GIR 0AA|[A-PR-UWYZ](?:\d[\dA-HJKPSTUW]?|[A-HK-Y]\d[\dABEHMNPRV-Y]?) \d[ABD-HJLNP-UW-Z]{2}",
        "SW1A 1AA",
    ),
    "JE": _format(r"JE\d \d[ABD-HJLNP-UW-Z]{2}", "JE2 3QA"),
    "GG": _format(r"GY\d{1,2} \d[ABD-HJLNP-UW-Z]{2}", "GY1 1AA"),
    "IM": _format(r"IM\d{1,2} \d[ABD-HJLNP-UW-Z]{2}", "IM1 1AD"),
    # Eircode: a routing key (letter + two digits, or Dublin's D6W) and a four-character unique
    # identifier, both drawn from an alphabet without easily confused letters.
    "IE": _format(r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W) [\dAC-FHKNPRTV-Y]{4}", "D02 X285"),
    # Western and central Europe
    "DE": _format(r"\d{5}", "10115"),
    "FR": _format(r"\d{5}", "75008"),
    # PostNL skips SA, SD and SS as letter pairs for historical reasons.
    "NL": _format(r"[1-9]\d{3} (?!SA|SD|SS)[A-Z]{2}", "1234 AB"),
    "BE": _format(r"[1-9]\d{3}", "1000"),
    "LU": _format(r"\d{4}", "1009"),
    "AT": _format(r"[1-9]\d{3}", "1010"),
    "CH": _format(r"[1-9]\d{3}", "8001"),
    "LI": _format(r"94(?:8[5-9]|9[0-8])", "9490"),
    "IT": _format(r"\d{5}", "00184"),
    "SM": _format(r"4789\d", "47890"),
    "VA": _format(r"00120", "00120"),
    "MC": _format(r"980\d{2}", "98000"),
    # The first two digits are the province (01 Álava to 52 Melilla).
    "ES": _format(r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}", "28013"),
    "AD": _format(r"AD\d{3}", "AD500"),
    "PT": _format(r"[1-9]\d{3}-\d{3}", "1234-567"),
    "MT": _format(r"[A-Z]{3} \d{4}", "VLT 1117"),
    # Nordics
    "SE": _format(r"[1-9]\d{2} \d{2}", "123 45"),
    "NO": _format(r"\d{4}", "0150"),
    "DK": _format(r"\d{4}", "1050"),
    "FI": _format(r"\d{5}", "00100"),
    "IS": _format(r"\d{3}", "101"),
    # Central and eastern Europe
    "PL": _format(r"\d{2}-\d{3}", "12-345"),
    "CZ": _format(r"[1-7]\d{2} \d{2}", "110 00"),
    "SK": _format(r"[089]\d{2} \d{2}", "811 01"),
    "HU": _format(r"[1-9]\d{3}", "1051"),
    "RO": _format(r"\d{6}", "010011"),
    "BG": _format(r"[1-9]\d{3}", "1000"),
    "HR": _format(r"[1-5]\d{4}", "10000"),
    "SI": _format(r"[1-9]\d{3}", "1000"),
    "RS": _format(r"\d{5}", "11000"),
    "UA": _format(r"\d{5}", "01001"),
    "GR": _format(r"[1-8]\d{2} \d{2}", "105 57"),
    "CY": _format(r"\d{4}", "1010"),
    "TR": _format(r"(?:0[1-9]|[1-7]\d|8[01])\d{3}", "06100"),
    # Baltics: Latvia and Lithuania write the country prefix as part of the code itself.
    "EE": _format(r"\d{5}", "10111"),
    "LV": _format(r"LV-\d{4}", "LV-1234"),
    "LT": _format(r"LT-\d{5}", "LT-12345"),
    # Asia-Pacific
    "AU": _format(r"\d{4}", "2000"),
    "NZ": _format(r"\d{4}", "6011"),
    "JP": _format(r"\d{3}-\d{4}", "123-4567"),
    "KR": _format(r"\d{5}", "03187"),
    "CN": _format(r"\d{6}", "100000"),
    "IN": _format(r"[1-9]\d{5}", "110001"),
    "SG": _format(r"\d{6}", "018956"),
    "MY": _format(r"\d{5}", "50000"),
    "TH": _format(r"\d{5}", "10200"),
    "PH": _format(r"\d{4}", "1000"),
    "ID": _format(r"\d{5}", "10110"),
    # Middle East, Africa, Latin America
    "IL": _format(r"\d{7}", "9195015"),
    "SA": _format(r"\d{5}(?:-\d{4})?", "12345 or 12345-6789"),
    "ZA": _format(r"\d{4}", "8001"),
    "BR": _format(r"\d{5}-\d{3}", "12345-678"),
    # Argentina's CPA (letter, four digits, three letters) has not fully replaced the old four digits.
    "AR": _format(r"[A-HJ-NP-Z]\d{4}[A-Z]{3}|\d{4}", "C1002AAR or 1002"),
}

# Where the canonical separator goes in a code typed without it (negative: counted from the end,
# because British outward codes vary in length while the inward code is always three characters).
_SEPARATORS: dict[str, tuple[int, str]] = {
    "US": (5, "-"),
    "SA": (5, "-"),
    "CA": (3, " "),
    "GB": (-3, " "),
    "JE": (-3, " "),
    "GG": (-3, " "),
    "IM": (-3, " "),
    "IE": (3, " "),
    "NL": (4, " "),
    "PT": (4, "-"),
    "MT": (3, " "),
    "SE": (3, " "),
    "PL": (2, "-"),
    "CZ": (3, " "),
    "SK": (3, " "),
    "GR": (3, " "),
    "JP": (3, "-"),
    "BR": (5, "-"),
}

_PREFIXES: dict[str, str] = {"LV": "LV-", "LT": "LT-"}

# Countries whose posts do not use postal codes at all. A code typed for one of these is almost
# always a placeholder ("00000") that other sites forced on the customer, so it is refused rather
# than printed on invoices.
COUNTRIES_WITHOUT_POSTAL_CODES: frozenset[str] = frozenset(
    {
        "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF", "CG", "CI",
        "CK", "CM", "DJ", "DM", "ER", "FJ", "GA", "GD", "GM", "GQ", "GY", "HK", "KI", "KM", "KN",
        "KP", "ML", "MO", "NR", "NU", "QA", "RW", "SB", "SC", "SL", "SR", "ST", "TG", "TK", "TL",
        "TO", "TV", "UG", "VU", "YE", "ZW",
    }
)  # fmt: skip

# Without a known national format we cannot check much, but can still keep out punctuation and
# free text that would break address lines on invoices.
_ANY_POSTAL_CODE = re.compile(r"[A-Z0-9](?:[A-Z0-9 -]{0,10}[A-Z0-9])?")

# CLDR names these two-letter regions, but ISO 3166-1 assigns none of them to a country: groupings
# (EU, EZ, UN, QO), pseudo-locales (XA, XB), the unknown region (ZZ), and codes ISO only reserves
# (AC, CP, CQ, DG, EA, IC, TA). Kosovo's XK is only user-assigned but is the code in general use,
# so customers there can still be billed.
_NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"})

COUNTRY_CODES: frozenset[str] = frozenset(
    code
    for code in _ENGLISH.territories
    if isinstance(code, str)  # babel types the keys of its locale data loosely; territories are strings
    and len(code) == 2
    and code.isascii()
    and code.isalpha()
    and code.isupper()
    and code not in _NOT_COUNTRIES
)

# Babel also lists withdrawn currencies (DEM, FRF, HRK...) and non-money units (XAU, XXX); only
# currencies that are legal tender somewhere today can appear on a new invoice or price list.
CURRENCY_CODES: frozenset[str] = frozenset(
    code
    for periods in get_global("territory_currencies").values()
    for code, _start, end, tender in periods
    if end is None and tender
)

# Names that read wrongly in a sentence without "the" ("a postal code for Netherlands").
_NAMES_WITH_THE = frozenset({"AE", "BS", "CF", "CK", "DO", "GB", "GM", "KY", "MH", "NL", "PH", "SB", "US"})


def country_name(country: str) -> str:
    """The country's English name, or the code itself when it is not a known country."""
    code = country.strip().upper()
    if code in COUNTRY_CODES:
        return _ENGLISH.territories[code]
    return country


def _name_in_sentence(country: str) -> str:
    name = country_name(country)
    return f"the {name}" if country in _NAMES_WITH_THE else name


def country_error(country: str) -> str | None:
    if country in COUNTRY_CODES:
        return None
    return "Choose a country by its two-letter ISO code, like DE."


def currency_error(currency: str) -> str | None:
    if currency in CURRENCY_CODES:
        return None
    return "Choose a currency by its ISO 4217 code, like EUR."


def normalize_postal_code(country: str, code: str) -> str:
    """The code as the country's post writes it: upper case, single spaces, canonical separator.

    A separator or prefix is only added when the result then matches the national format, so input
    that is simply wrong comes back unchanged (apart from case and spacing) for the error message.
    """
    country = country.strip().upper()
    cleaned = " ".join(code.split()).upper()
    rule = POSTAL_CODE_FORMATS.get(country)
    if rule is None or rule[0].fullmatch(cleaned):
        return cleaned
    pattern = rule[0]
    compact = cleaned.replace(" ", "").replace("-", "")
    candidates = [compact]
    if country in _PREFIXES:
        prefix = _PREFIXES[country]
        candidates.append(prefix + compact.removeprefix(prefix.rstrip("-")))
    if country in _SEPARATORS:
        position, separator = _SEPARATORS[country]
        candidates.append(compact[:position] + separator + compact[position:])
    for candidate in candidates:
        if pattern.fullmatch(candidate):
            return candidate
    return cleaned


def postal_code_error(country: str, code: str) -> str | None:
    """None when the code is acceptable for the country, else a message for the person typing it.

    The code is judged after normalize_postal_code, so store the normalised form once it passes.
    """
    country = country.strip().upper()
    normalized = normalize_postal_code(country, code)
    if country in COUNTRIES_WITHOUT_POSTAL_CODES:
        return _no_postal_code_error(country, normalized)
    rule = POSTAL_CODE_FORMATS.get(country)
    if rule is None:
        return _free_form_error(normalized)
    if not normalized:
        return "Enter a postal code."
    pattern, example = rule
    if pattern.fullmatch(normalized):
        return None
    return f"Enter a valid postal code for {_name_in_sentence(country)}, like {example}."


def _no_postal_code_error(country: str, normalized: str) -> str | None:
    if not normalized:
        return None
    name = _name_in_sentence(country)
    return f"{name[0].upper()}{name[1:]} does not use postal codes. Leave this empty."


def _free_form_error(normalized: str) -> str | None:
    # We do not know whether the country's post requires a code, so an empty one is not refused.
    if not normalized or _ANY_POSTAL_CODE.fullmatch(normalized):
        return None
    return "Enter a postal code of up to 12 letters, digits, spaces or hyphens."
