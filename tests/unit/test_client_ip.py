import pytest

from app.config import load_settings
from app.web.auth import forwarded_client

pytestmark = pytest.mark.unit
PROXIES = ("10.0.0.0/8", "127.0.0.1")


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says():
    assert forwarded_client("127.0.0.1", ["1.2.3.4"], ()) == "127.0.0.1"


def test_a_peer_that_is_not_our_proxy_cannot_name_another_address():
    assert forwarded_client("203.0.113.9", ["1.2.3.4"], PROXIES) == "203.0.113.9"


def test_behind_our_proxies_the_client_is_the_right_most_address_that_is_not_a_proxy():
    # the client wrote "6.6.6.6"; our two proxies appended 1.2.3.4 and 10.0.0.2
    assert forwarded_client("10.0.0.3", ["6.6.6.6, 1.2.3.4", "10.0.0.2"], PROXIES) == "1.2.3.4"


@pytest.mark.parametrize(("entry", "client"), [("1.2.3.4:5678", "1.2.3.4"), ("[2001:db8::1]:443", "2001:db8::1")])
def test_ports_are_not_part_of_the_address(entry, client):
    assert forwarded_client("127.0.0.1", [entry], PROXIES) == client


def test_a_proxy_without_the_header_is_the_client():
    assert forwarded_client("127.0.0.1", [], PROXIES) == "127.0.0.1"


def test_a_client_cannot_hide_behind_an_address_of_our_proxies_it_writes_itself():
    # "10.0.0.9" left of the client's real address is the client's own writing, not a hop
    assert forwarded_client("10.0.0.3", ["10.0.0.9, 198.51.100.7"], PROXIES) == "198.51.100.7"


def test_a_chain_of_our_own_proxies_names_the_first_of_them():
    assert forwarded_client("10.0.0.3", ["10.0.0.1, 10.0.0.2"], PROXIES) == "10.0.0.1"


def test_ipv6_proxies_and_clients():
    assert forwarded_client("2001:db8::5", ["2001:db8:1::9"], ("2001:db8::/64",)) == "2001:db8:1::9"
    assert forwarded_client("2001:db8:2::5", ["2001:db8:1::9"], ("2001:db8::/64",)) == "2001:db8:2::5"


def test_blank_entries_are_skipped():
    assert forwarded_client("127.0.0.1", [" , 1.2.3.4 ,", ""], PROXIES) == "1.2.3.4"


def test_trusted_proxies_are_read_from_the_environment_and_checked(tmp_path):
    env = {"CLOUDSEAT_DATA_DIR": str(tmp_path)}
    assert load_settings(env).trusted_proxies == ()
    given = {**env, "CLOUDSEAT_TRUSTED_PROXIES": "10.0.0.7/8, ::1,,192.0.2.1"}
    assert load_settings(given).trusted_proxies == ("10.0.0.0/8", "::1/128", "192.0.2.1/32")
    with pytest.raises(ValueError, match=r"CLOUDSEAT_TRUSTED_PROXIES: 'proxy\.local' is not an IP address"):
        load_settings({**env, "CLOUDSEAT_TRUSTED_PROXIES": "proxy.local"})
