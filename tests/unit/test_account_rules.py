import uuid

import pytest

from app.accounts import rules
from app.accounts.rules import AccountRef, Principal

pytestmark = pytest.mark.unit

R1, R2, C1, C2, D = (uuid.uuid4() for _ in range(5))
ACCOUNTS = {
    "reseller1": AccountRef(R1, "reseller", None),
    "reseller2": AccountRef(R2, "reseller", None),
    "customer_of_r1": AccountRef(C1, "customer", R1),
    "customer_of_r2": AccountRef(C2, "customer", R2),
    "direct_customer": AccountRef(D, "customer", None),
}


def principal(role, account_id=None):
    return Principal(uuid.uuid4(), "x@example.test", "X", role, account_id)


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        (principal("csp_admin"), set(ACCOUNTS)),
        (principal("reseller_admin", R1), {"reseller1", "customer_of_r1"}),
        (principal("customer_admin", C1), {"customer_of_r1"}),
        (principal("customer_admin", D), {"direct_customer"}),
    ],
)
def test_scope_rule(viewer, visible):
    assert {name for name, ref in ACCOUNTS.items() if rules.can_see(viewer, ref)} == visible


def test_reseller_never_sees_direct_customers_through_a_null_parent():
    assert not rules.can_see(principal("reseller_admin", R1), ACCOUNTS["direct_customer"])


# every role against every kind of account: own, own customer, another reseller, another reseller's customer, a
# direct customer (the CSP's row: all of them)
VIEWERS = {
    "csp": principal("csp_admin"),
    "reseller1": principal("reseller_admin", R1),
    "customer_of_r1": principal("customer_admin", C1),
    "reseller2": principal("reseller_admin", R2),
    "direct_customer": principal("customer_admin", D),
}
SEES = {
    "csp": set(ACCOUNTS),
    "reseller1": {"reseller1", "customer_of_r1"},
    "customer_of_r1": {"customer_of_r1"},
    "reseller2": {"reseller2", "customer_of_r2"},
    "direct_customer": {"direct_customer"},
}


def evaluate(fragment: str, args: list, account: AccountRef) -> bool:
    """The SQL fragment read as a boolean over one account, with the only shapes scope_sql writes."""
    row = {"id": account.id, "parent": account.parent_id}
    if fragment in ("TRUE", "FALSE"):
        return fragment == "TRUE"
    terms = fragment.strip("()").split(" OR ")
    result = False
    for term in terms:
        column, placeholder = term.split(" = ")
        result |= row[column] is not None and row[column] == args[int(placeholder.removeprefix("$")) - 1]
    return result


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("account", ACCOUNTS)
def test_can_see_and_the_sql_fragment_agree(viewer, account):
    args: list = ["something already bound"]
    fragment = rules.scope_sql(VIEWERS[viewer], "id", "parent", args)
    expected = account in SEES[viewer]
    assert rules.can_see(VIEWERS[viewer], ACCOUNTS[account]) is expected
    assert evaluate(fragment, args, ACCOUNTS[account]) is expected
    assert args[0] == "something already bound"  # appended after what the query bound before


def test_scope_sql_numbers_its_parameter_after_the_callers():
    args: list = [1, 2]
    assert rules.scope_sql(VIEWERS["reseller1"], "a.id", "a.parent_id", args) == "(a.id = $3 OR a.parent_id = $3)"
    assert args == [1, 2, R1]
    assert rules.scope_sql(VIEWERS["customer_of_r1"], "a.id", "a.parent_id", args) == "a.id = $4"
    assert rules.scope_sql(VIEWERS["csp"], "a.id", "a.parent_id", args) == "TRUE"
    assert args == [1, 2, R1, C1]  # the CSP binds nothing


def test_a_non_csp_user_without_an_account_sees_nothing():
    for role in ("reseller_admin", "customer_admin"):
        lost = principal(role, None)
        assert rules.scope_of(lost).account_id is None
        assert not any(rules.can_see(lost, ref) for ref in ACCOUNTS.values())
        args: list = []
        assert rules.scope_sql(lost, "a.id", "a.parent_id", args) == "FALSE"
        assert args == []
        assert not rules.sees_everything(lost)
    assert rules.sees_everything(VIEWERS["csp"])


def test_who_creates_what():
    assert rules.may_create_reseller(principal("csp_admin"))
    assert not rules.may_create_reseller(principal("reseller_admin", R1))
    assert rules.may_create_customer(principal("csp_admin"), None)
    assert rules.may_create_customer(principal("reseller_admin", R1), R1)
    assert not rules.may_create_customer(principal("reseller_admin", R1), R2)
    assert not rules.may_create_customer(principal("reseller_admin", R1), None)
    assert not rules.may_create_customer(principal("customer_admin", C1), R1)


def test_mca_method_by_role():
    assert rules.mca_method(principal("customer_admin", C1)) == "customer"
    assert rules.mca_method(principal("reseller_admin", R1)) == "reseller_attested"
    assert rules.mca_method(principal("csp_admin")) == "csp_attested"


VALID_CUSTOMER = {
    "name": "Tailspin Toys AG",
    "email": "IT@Tailspin.test",
    "country": "de",
    "currency": "eur",
    "address_line1": "Friedrichstraße 100",
    "city": "Berlin",
    "postal_code": "10117",
    "tenant_domain": "Tailspin",
}


def test_clean_customer_normalises():
    cleaned, errors = rules.clean_account(VALID_CUSTOMER, "customer")
    assert errors == {}
    assert cleaned["email"] == "it@tailspin.test"
    assert (cleaned["country"], cleaned["currency"]) == ("DE", "EUR")
    assert cleaned["tenant_domain"] == "tailspin.onmicrosoft.com"
    assert cleaned["qualification"] == "commercial"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": " "}, "name", "Enter the company name."),
        ({"email": "nope"}, "email", "Enter an email address like name@example.com."),
        ({"country": "XX"}, "country", "Choose a country by its two-letter ISO code, like DE."),
        ({"currency": "EURO"}, "currency", "Choose a currency by its ISO 4217 code, like EUR."),
        ({"postal_code": "1234"}, "postal_code", "Enter a valid postal code for Germany, like 10115."),
        ({"address_line1": ""}, "address_line1", "Enter the street address."),
        ({"city": ""}, "city", "Enter the city."),
        (
            {"qualification": "charity"},
            "qualification",
            "Choose commercial, education, government or nonprofit.",
        ),
        (
            {"tenant_domain": "bad_domain!"},
            "tenant_domain",
            "A domain prefix has 1 to 26 lower-case letters, digits or hyphens, like contoso.",
        ),
        (
            {"tenant_id": "not-a-guid", "tenant_domain": ""},
            "tenant_id",
            "A tenant ID is a GUID like 4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04.",
        ),
        (
            {"tenant_id": str(uuid.uuid4())},
            "tenant_domain",
            "Give a new domain or an existing tenant ID, not both.",
        ),
    ],
)
def test_clean_customer_errors(change, field, message):
    _, errors = rules.clean_account({**VALID_CUSTOMER, **change}, "customer")
    assert errors[field] == message


def test_reseller_needs_an_mpn_id():
    data = {
        "name": "R",
        "email": "r@example.test",
        "country": "US",
        "currency": "USD",
        "postal_code": "98052",
    }
    _, errors = rules.clean_account(data, "reseller")
    assert errors == {"mpn_id": "Enter the reseller's MPN ID (Partner Location Account ID)."}
    _, errors = rules.clean_account({**data, "mpn_id": "12ab"}, "reseller")
    assert errors == {"mpn_id": "An MPN ID is 6 to 10 digits."}


def test_partial_checks_only_what_is_sent_and_uses_the_current_country():
    cleaned, errors = rules.clean_account(
        {"postal_code": "sw1a2aa", "_current_country": "GB"}, "customer", partial=True
    )
    assert errors == {}
    assert cleaned == {"postal_code": "SW1A 2AA"}
    _, errors = rules.clean_account({"postal_code": "123", "_current_country": "GB"}, "customer", partial=True)
    assert set(errors) == {"postal_code"}
