from datetime import UTC, datetime, timedelta

import pytest

from app.auth import rules

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_four_failures_do_not_throttle():
    assert rules.throttled_until([NOW - timedelta(minutes=i) for i in range(4)], NOW) is None


def test_five_failures_within_15_minutes_throttle_until_the_oldest_ages_out():
    failures = [NOW - timedelta(minutes=m) for m in (1, 2, 3, 4, 10)]
    until = rules.throttled_until(failures, NOW)
    assert until == NOW - timedelta(minutes=10) + timedelta(minutes=15)
    assert rules.throttle_message(until, NOW) == "Too many failed sign-in attempts. Try again in 5 minutes."


def test_failures_older_than_15_minutes_do_not_count():
    failures = [NOW - timedelta(minutes=m) for m in (1, 2, 3, 4, 15, 16)]
    assert rules.throttled_until(failures, NOW) is None


def test_throttle_message_singular():
    assert rules.throttle_message(NOW + timedelta(seconds=20), NOW).endswith("in 1 minute.")


def test_secrets_are_stored_as_digests():
    token = rules.new_api_token()
    assert token.startswith("cs_")
    assert len(token) > 40
    assert rules.digest(token) != token
    assert rules.digest(token) == rules.digest(token)
    assert rules.new_api_token() != token


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Use at least 12 characters."),
        ("a@b.example", "Use at least 12 characters."),
        ("user@example.com", "Do not use your email address as your password."),
        ("a-long-enough-passphrase", None),
    ],
)
def test_password_rules(password, message):
    assert rules.password_error(password, "user@example.com") == message


@pytest.mark.parametrize(
    "target",
    [
        "//evil.test",
        "/\\evil.test",
        "/%5Cevil.test",
        "/%255Cevil.test",
        "https://evil.test",
        "/%2F%2Fevil.test",
        "\t/evil",
        "/\t/evil.test",
        "/%09/evil.test",
        "/%0D%0A/evil.test",
        "/%252F%252Fevil.test",
        "%2F%2Fevil.test",
        "///evil.test",
        "javascript:alert(1)",
        "http:evil.test",
        " //evil.test",
        "/\x00/evil.test",
        "evil.test",
        "",
    ],
)
def test_next_outside_this_site_becomes_home(target):
    assert rules.safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/accounts?kind=reseller", "/subscriptions/1?q=a%20b", "/x?next=%2Fy"])
def test_next_within_this_site_is_kept_as_given(target):
    assert rules.safe_next(target) == target


def test_next_is_sent_as_ascii():
    assert rules.safe_next("/\u2603/x?q=\u00e9") == "/%E2%98%83/x?q=%C3%A9"
    assert rules.safe_next("/\udc80") == "/%3F"  # a lone surrogate is no character a header can carry
