"""The catalog the Partner Center sandbox ships: realistic NCE offers, their price sheets and promotions.

Pure data and arithmetic (no I/O): the sandbox's HTTP layer turns these into Microsoft's product, SKU,
availability, price-sheet and promotion resources.

Sources: ../shared/partner_center_facts.md sections 4 (catalog), 5 (price sheet) and 6.4 (promotions), and
NCE_RULES.md sections 1-2. Product and SKU ids are Microsoft's where known (the ones in the facts sheet and the
brief, and ids seen in public price lists); the others are invented in the same 12-character style. Entra SKU
ids (`provisioning_id`) and part numbers are Microsoft's where known; otherwise a stable UUID is derived from
the offer so that licence assignment still has something to refer to.

Prices are the sandbox's own list, close to Microsoft's US list but not a copy of any month's price list.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from app.money import round_amount, round_unit_price
from app.partner_center.sandbox.rules import add_months

Plan = tuple[str | None, str]  # (termDuration, billingCycle) as the cart API spells them (facts 4.2)

# Plans an offer can be bought with. Not every SKU has every combination (NCE_RULES 1): only these get rows.
ANNUAL: tuple[Plan, ...] = (("P1Y", "annual"), ("P1Y", "monthly"), ("P1M", "monthly"))
# Intune, Entra, Exchange stand-alone and others have no one-month term (facts 4.2)
ANNUAL_ONLY: tuple[Plan, ...] = (("P1Y", "annual"), ("P1Y", "monthly"))
# Dynamics 365 "(36 mo)" offers add a three-year term billed monthly, yearly or upfront (facts 4.2)
WITH_P3Y: tuple[Plan, ...] = (*ANNUAL, ("P3Y", "monthly"), ("P3Y", "annual"), ("P3Y", "triennial"))
TRIAL: tuple[Plan, ...] = (("P1M", "none"),)  # facts 6.5: one month, billing cycle none, free
# Software subscriptions: one or three years, billed upfront per year or for the whole term (facts 4.2)
SOFTWARE: tuple[Plan, ...] = (("P1Y", "annual"), ("P3Y", "annual"), ("P3Y", "triennial"))
PERPETUAL: tuple[Plan, ...] = ((None, "one_time"),)  # no term, billed once (facts 4.2)

KINDS = ("license", "software_subscription", "perpetual", "trial")
SEGMENTS = ("commercial", "education", "government", "nonprofit")

# Price rules (facts 5.3, NCE_RULES 2)
PARTNER_COST_FACTOR = Decimal("0.80")  # UnitPrice is the partner's cost: ERP less the usual 20% (facts 10C: 115.2/144)
MONTHLY_BILLING_PREMIUM = Decimal("1.05")  # paying an annual or 3-year term monthly costs 5% more
MONTHLY_TERM_PREMIUM = Decimal("1.20")  # a one-month term costs 20% more per month than an annual one
TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}
SOFTWARE_TERM_YEARS = {"P1Y": 1, "P3Y": 3}

MICROSOFT = "Microsoft Corporation"
# Microsoft's sheet dates are naive UTC; every row of the shipped list starts here
SHEET_START = datetime(2025, 1, 1)  # noqa: DTZ001 - the price sheet carries naive UTC times (facts 1)
FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59)  # noqa: DTZ001 - "no end" as Microsoft writes it

MARKETS = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "IE": "EUR", "AU": "AUD", "CA": "CAD", "JP": "JPY"}
# Microsoft prices each market in its own currency; the sandbox derives them from its USD list with fixed
# factors so prices never move under a test. Rounded to the currency's minor unit (JPY has none).
FX_FROM_USD = {
    "USD": Decimal("1"),
    "GBP": Decimal("0.79"),
    "EUR": Decimal("0.93"),
    "AUD": Decimal("1.53"),
    "CAD": Decimal("1.37"),
    "JPY": Decimal("151"),
}


def _stable_code(seed: str, length: int) -> str:
    """Upper-case letters and digits derived from `seed`: the same every run, like Microsoft's ids."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTVWXZ"
    number = uuid.uuid5(uuid.NAMESPACE_URL, f"cloudseat-sandbox:{seed}").int
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(alphabet))
        chars.append(alphabet[digit])
    return "".join(chars)


@dataclass(frozen=True)
class Offer:
    """One product SKU as the catalog and the price sheet describe it (facts 4.2, 5.2)."""

    product_id: str
    sku_id: str  # 4 characters, leading zeros kept
    product_title: str
    sku_title: str
    description: str
    kind: str  # license | software_subscription | perpetual | trial
    segment: str  # commercial | education | government | nonprofit
    # licences and trials: ERP per seat per month on an annual term; software subscriptions: ERP per year;
    # perpetual: ERP per licence. Always USD, converted per market by FX_FROM_USD.
    list_price_usd: Decimal
    plans: tuple[Plan, ...]
    min_quantity: int = 1
    max_quantity: int = 300  # per subscription (sku.maximumQuantity)
    tenant_max: int | None = None  # Microsoft's per-tenant cap pooled across partners (facts 4.3)
    is_addon: bool = False
    prerequisite_skus: tuple[str, ...] = ()  # "ProductId:SkuId" the add-on needs (dynamicAttributes)
    upgrade_targets: tuple[str, ...] = ()  # "ProductId:SkuId" it may transition up to (upgradeTargetOffers)
    provisioning_id: str = ""  # the Entra SKU id licences are assigned with (dynamicAttributes.provisioningId)
    sku_part_number: str = ""  # the Entra string id (e.g. O365_BUSINESS_ESSENTIALS); none for software
    requires_attestation: bool = False  # cart line needs attestationAccepted (facts 4.3)
    availability_id: str = ""  # 12 characters, stable per offer and segment
    publisher: str = MICROSOFT
    tags: tuple[str, ...] = ()
    # share of ERP the partner pays; 0.80 unless Microsoft gives this offer a different partner discount
    cost_factor: Decimal = PARTNER_COST_FACTOR
    # (term, billing cycle, USD cost for the whole term) where the partner's cost is set outright
    term_costs_usd: tuple[tuple[str, str, Decimal], ...] = ()
    is_trial: bool = field(init=False)

    def __post_init__(self) -> None:
        # frozen: derived defaults are filled in once, here
        object.__setattr__(self, "is_trial", self.kind == "trial")
        if not self.availability_id:
            code = _stable_code(f"availability:{self.key}:{self.segment}", 4)
            object.__setattr__(self, "availability_id", self.product_id[:8] + code)
        if not self.provisioning_id:
            object.__setattr__(self, "provisioning_id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"entra-sku:{self.key}")))
        if not self.tags:
            object.__setattr__(self, "tags", _DEFAULT_TAGS[self.kind])

    @property
    def key(self) -> str:
        return f"{self.product_id}:{self.sku_id}"


# Tags as the price sheet shows them ("License", "License; Trial": facts 5.1, 5.2)
_DEFAULT_TAGS = {
    "license": ("License",),
    "trial": ("License", "Trial"),
    "software_subscription": ("Software", "Subscription"),
    "perpetual": ("Software", "Perpetual"),
}

_DESCRIPTIONS = {
    "license": "{title}, licensed per user.",
    "trial": "One-month free trial of {title}; converts to a paid subscription by upgrade.",
    "software_subscription": "{title}: software subscription, a licence to use the software for the term.",
    "perpetual": "{title}: perpetual licence, bought once with no term.",
}


def _o(
    key: str,
    sku_title: str,
    price: str,
    *,
    plans: tuple[Plan, ...] = ANNUAL,
    product_title: str | None = None,
    description: str | None = None,
    kind: str = "license",
    segment: str = "commercial",
    min_quantity: int = 1,
    max_quantity: int = 300,
    tenant_max: int | None = None,
    is_addon: bool = False,
    prerequisite_skus: tuple[str, ...] = (),
    upgrade_targets: tuple[str, ...] = (),
    entra: tuple[str, str] | None = None,
    requires_attestation: bool = False,
    cost_factor: Decimal = PARTNER_COST_FACTOR,
    term_costs_usd: tuple[tuple[str, str, Decimal], ...] = (),
) -> Offer:
    """Shorthand for the table below: `key` is "ProductId:SkuId", `entra` is (SKU GUID, part number)."""
    product_id, sku_id = key.split(":")
    title = product_title or sku_title
    return Offer(
        product_id=product_id,
        sku_id=sku_id,
        product_title=title,
        sku_title=sku_title,
        description=description or _DESCRIPTIONS[kind].format(title=sku_title),
        kind=kind,
        segment=segment,
        list_price_usd=Decimal(price),
        plans=plans,
        min_quantity=min_quantity,
        max_quantity=max_quantity,
        tenant_max=tenant_max,
        is_addon=is_addon,
        prerequisite_skus=prerequisite_skus,
        upgrade_targets=upgrade_targets,
        provisioning_id=entra[0] if entra else "",
        sku_part_number=entra[1] if entra else "",
        requires_attestation=requires_attestation,
        cost_factor=cost_factor,
        term_costs_usd=term_costs_usd,
    )


# Offers other offers refer to (prerequisites, upgrade targets)
BASIC = "CFQ7TTC0LH18:0001"
STANDARD = "CFQ7TTC0LDPB:0001"
PREMIUM = "CFQ7TTC0LCHC:0002"
APPS_BUSINESS = "CFQ7TTC0LH1G:0001"
APPS_ENTERPRISE = "CFQ7TTC0LGZT:0001"
M365_E3 = "CFQ7TTC0LFLX:0001"
M365_E5 = "CFQ7TTC0LFLZ:0002"
M365_F3 = "CFQ7TTC0LH05:0001"
O365_E1 = "CFQ7TTC0LF8Q:0001"
O365_E3 = "CFQ7TTC0LF8R:0001"
O365_E5 = "CFQ7TTC0LF8S:0002"
EXO_P1 = "CFQ7TTC0LH16:0001"
EXO_P2 = "CFQ7TTC0LH1P:0001"
ENTRA_P2 = "CFQ7TTC0LFK5:0001"
EMS_E5 = "CFQ7TTC0LFJ1:0001"
DEFENDER_O365_P2 = "CFQ7TTC0LHWM:0001"
VISIO_P1 = "CFQ7TTC0HD33:0003"
VISIO_P2 = "CFQ7TTC0HD32:0002"
PROJECT_P3 = "CFQ7TTC0HDB0:0002"
PROJECT_P5 = "CFQ7TTC0HD9Z:0002"
POWER_BI_PRO = "CFQ7TTC0L3PB:0001"
POWER_BI_PPU = "CFQ7TTC0HL8W:0001"
TEAMS_PREMIUM = "CFQ7TTC0RM8K:0002"
SALES_PRO = "CFQ7TTC0LH3B:0001"
SALES_ENTERPRISE = "CFQ7TTC0LH3B:0002"
CUSTOMER_SERVICE_ENTERPRISE = "CFQ7TTC0LGWG:0001"
BC_PREMIUM = "CFQ7TTC0LH2X:0002"
IOT_SCENARIO = "CFQ7TTC0HD4F:0001"
A3_FACULTY = "CFQ7TTC0LHPL:000W"
A5_FACULTY = "CFQ7TTC0LHPJ:0015"
G3_GCC = "CFQ7TTC0LH0B:0001"
M365_G3_GCC = "CFQ7TTC0LH0D:0001"
NONPROFIT_PREMIUM = "CFQ7TTC0LCHC:0009"

# Suites that carry Teams and Exchange: what most Microsoft 365 add-ons need one of (facts 4.2)
SUITES = (BASIC, STANDARD, PREMIUM, M365_E3, M365_E5, O365_E1, O365_E3, O365_E5)
MAILBOXES = (*SUITES, EXO_P1, EXO_P2)

SMB_CAP = 300  # small-business SKUs: at most 300 seats per tenant across all partners (facts 4.3)
ENTERPRISE_MAX = 10000  # per subscription; enterprise SKUs have no pooled tenant cap
TRIAL_SEATS = 25  # facts 6.5: 25-seat trials
SERVER_MAX = 1000

OFFERS: tuple[Offer, ...] = (
    # --- Microsoft 365 for business: pooled 300-seat cap per tenant (facts 4.3) ---
    _o(
        BASIC,
        "Microsoft 365 Business Basic",
        "6.00",
        description="Best for businesses that need professional email, cloud file storage, and online meetings.",
        tenant_max=SMB_CAP,
        # Microsoft's own sample lists Business Standard and Office 365 E1 as its upgrade targets (facts 4.2)
        upgrade_targets=(STANDARD, PREMIUM, O365_E1),
        entra=("3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS"),
    ),
    _o(
        STANDARD,
        "Microsoft 365 Business Standard",
        "12.50",
        description="Desktop Office apps with business email, cloud storage and online meetings.",
        tenant_max=SMB_CAP,
        upgrade_targets=(PREMIUM, O365_E3, M365_E3),
        entra=("f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM"),
    ),
    _o(
        PREMIUM,
        "Microsoft 365 Business Premium",
        "22.00",
        description="Business Standard plus advanced security and device management.",
        tenant_max=SMB_CAP,
        upgrade_targets=(M365_E3, M365_E5),
        entra=("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB"),
    ),
    _o(
        APPS_BUSINESS,
        "Microsoft 365 Apps for business",
        "8.25",
        description="Desktop versions of the Office apps with 1 TB of cloud storage per user.",
        tenant_max=SMB_CAP,
        upgrade_targets=(STANDARD, PREMIUM),
        entra=("cdd28e44-67e3-425e-be4c-737fab2899d3", "O365_BUSINESS"),
    ),
    # --- Microsoft 365 and Office 365 enterprise ---
    _o(
        APPS_ENTERPRISE,
        "Microsoft 365 Apps for enterprise",
        "12.00",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(M365_E3,),
        entra=("c2273bd0-dff7-4215-9ef5-2c7bcfb06425", "OFFICESUBSCRIPTION"),
    ),
    _o(
        M365_E3,
        "Microsoft 365 E3",
        "36.00",
        description="Office apps, enterprise email and collaboration, Windows Enterprise and device management.",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(M365_E5,),
        entra=("05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3"),
    ),
    _o(
        M365_E5,
        "Microsoft 365 E5",
        "57.00",
        description="Microsoft 365 E3 plus advanced security, compliance, voice and analytics.",
        max_quantity=ENTERPRISE_MAX,
        entra=("06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5"),
    ),
    _o(
        M365_F3,
        "Microsoft 365 F3",
        "8.00",
        description="Web and mobile apps for frontline workers.",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(M365_E3,),
        entra=("66b55226-6b4f-492c-910c-a3b7a3c9d993", "SPE_F1"),
    ),
    _o(
        O365_E1,
        "Office 365 E1",
        "10.00",
        description="Web versions of the Office apps with enterprise email, file storage and meetings.",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(O365_E3, M365_E3),
        entra=("18181a46-0d4e-45cd-891e-60aabd171b4e", "STANDARDPACK"),
    ),
    _o(
        O365_E3,
        "Office 365 E3",
        "23.00",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(O365_E5, M365_E3, M365_E5),
        entra=("6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK"),
    ),
    _o(
        O365_E5,
        "Office 365 E5",
        "38.00",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(M365_E5,),
        entra=("c7df2760-2c81-4ef7-b578-5b5392b571df", "ENTERPRISEPREMIUM"),
    ),
    # Exchange stand-alone: no one-month term (facts 4.2)
    _o(
        EXO_P1,
        "Exchange Online (Plan 1)",
        "4.00",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(EXO_P2, O365_E1),
        entra=("4b9405b0-7788-4568-add1-99614e613b69", "EXCHANGESTANDARD"),
        # the partner pays exactly $4 a month on the annual term billed monthly: Microsoft's worked
        # proration example (facts 10A) can be bought in the sandbox and checked to the cent
        term_costs_usd=(("P1Y", "monthly", Decimal("48.00")),),
    ),
    _o(
        EXO_P2,
        "Exchange Online (Plan 2)",
        "8.00",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        entra=("19ec0d23-8335-4cbd-94ac-6050e30712fa", "EXCHANGEENTERPRISE"),
    ),
    _o(
        "CFQ7TTC0JN4R:0002",
        "Microsoft Teams Essentials",
        "4.00",
        description="Unlimited group meetings, chat and file sharing for small businesses.",
        tenant_max=SMB_CAP,
        upgrade_targets=(BASIC,),
        entra=("3ab6abff-666f-4424-bfb7-f0bc274ec7bc", "TEAMS_ESSENTIALS_AAD"),
    ),
    # --- Add-ons: bought standalone, but only while the customer owns a prerequisite (facts 4.2) ---
    _o(
        "CFQ7TTC0MM8R:0002",
        "Microsoft 365 Copilot",
        "30.00",
        plans=ANNUAL_ONLY,  # sold on annual terms only at launch
        is_addon=True,
        prerequisite_skus=(*SUITES, APPS_BUSINESS, APPS_ENTERPRISE),
        max_quantity=ENTERPRISE_MAX,
        entra=("639dec6b-bb19-468b-871c-c5c441c4b0cb", "Microsoft_365_Copilot"),
        # the sandbox exercises a per-offer partner discount here: 15% instead of the usual 20%
        cost_factor=Decimal("0.85"),
    ),
    _o(
        TEAMS_PREMIUM,
        "Microsoft Teams Premium",
        "10.00",
        is_addon=True,
        prerequisite_skus=SUITES,
        max_quantity=ENTERPRISE_MAX,
        entra=("989a1621-93bc-4be0-835c-fe30171d6463", "Microsoft_Teams_Premium"),
    ),
    _o(
        "CFQ7TTC0LH0T:0001",
        "Microsoft Teams Phone Standard",
        "10.00",
        is_addon=True,
        prerequisite_skus=(*SUITES, M365_F3),
        max_quantity=ENTERPRISE_MAX,
        entra=("e43b5b99-8dfb-405f-9987-dc307f34bcbd", "MCOEV"),
    ),
    _o(
        "CFQ7TTC0LHRW:0001",
        "Microsoft 365 Audio Conferencing",
        "4.00",
        is_addon=True,
        prerequisite_skus=SUITES,
        max_quantity=ENTERPRISE_MAX,
        entra=("0c266dff-15dd-4b49-8397-2bb16070ed52", "MCOMEETADV"),
    ),
    _o(
        "CFQ7TTC0LHWP:0001",
        "Microsoft Defender for Office 365 (Plan 1)",
        "2.00",
        plans=ANNUAL_ONLY,
        is_addon=True,
        prerequisite_skus=MAILBOXES,
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(DEFENDER_O365_P2,),
        entra=("4ef96642-f096-40de-a3e9-d83fb2f90211", "ATP_ENTERPRISE"),
    ),
    _o(
        DEFENDER_O365_P2,
        "Microsoft Defender for Office 365 (Plan 2)",
        "5.00",
        plans=ANNUAL_ONLY,
        is_addon=True,
        prerequisite_skus=MAILBOXES,
        max_quantity=ENTERPRISE_MAX,
        entra=("3dd6cf57-d688-4eed-ba52-9e40b5468c3e", "THREAT_INTELLIGENCE"),
    ),
    _o(
        "CFQ7TTC0LH0Z:0001",
        "Exchange Online Archiving for Exchange Online",
        "3.00",
        plans=ANNUAL_ONLY,
        is_addon=True,
        prerequisite_skus=(EXO_P1, BASIC, STANDARD, O365_E1),
        max_quantity=ENTERPRISE_MAX,
        entra=("ee02fd1b-340e-4a4b-b355-4a514e4c8943", "EXCHANGEARCHIVE_ADDON"),
    ),
    # --- Security and identity (no one-month term: facts 4.2) ---
    _o(
        "CFQ7TTC0HX56:0002",
        "Microsoft Defender for Business",
        "3.00",
        tenant_max=SMB_CAP,
    ),
    _o(
        "CFQ7TTC0LCH4:0009",
        "Microsoft Intune Plan 1",
        "8.00",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        entra=("061f9ace-7d42-4136-88ac-31dc755f143f", "INTUNE_A"),
    ),
    _o(
        "CFQ7TTC0LFLS:0002",
        "Microsoft Entra ID P1",
        "6.00",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(ENTRA_P2,),
        entra=("078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "AAD_PREMIUM"),
    ),
    _o(
        ENTRA_P2,
        "Microsoft Entra ID P2",
        "9.00",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        entra=("84a661c4-e949-4bd2-a560-ed7766fcaf2b", "AAD_PREMIUM_P2"),
    ),
    _o(
        "CFQ7TTC0LHT4:0001",
        "Enterprise Mobility + Security E3",
        "10.60",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(EMS_E5,),
        entra=("efccb6f7-5641-4e0e-bd10-b4976e1bf68e", "EMS"),
    ),
    _o(
        EMS_E5,
        "Enterprise Mobility + Security E5",
        "16.40",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        entra=("b05e124f-c7cc-45a0-a6aa-8cf78c946968", "EMSPREMIUM"),
    ),
    # --- Visio and Project ---
    _o(
        VISIO_P1,
        "Visio Plan 1",
        "5.00",
        product_title="Visio Plan 1",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(VISIO_P2,),
        entra=("ca7f3140-d88c-455b-9a1c-7f0679e31a76", "VISIO_PLAN1_DEPT"),
    ),
    _o(
        VISIO_P2,
        "Visio Plan 2",
        "15.00",
        max_quantity=ENTERPRISE_MAX,
        entra=("38b434d2-a15e-4cde-9a98-e737c75623e1", "VISIO_PLAN2_DEPT"),
    ),
    _o(
        "CFQ7TTC0HDB1:0002",
        "Project Plan 1",
        "10.00",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(PROJECT_P3, PROJECT_P5),
        entra=("beb6439c-caad-48d3-bf46-0c82871e12be", "PROJECT_P1"),
    ),
    _o(
        PROJECT_P3,
        "Project Plan 3",
        "30.00",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(PROJECT_P5,),
        entra=("53818b1b-4a27-454b-8896-0dba576410e6", "PROJECTPROFESSIONAL"),
    ),
    _o(
        PROJECT_P5,
        "Project Plan 5",
        "55.00",
        max_quantity=ENTERPRISE_MAX,
        entra=("09015f9f-377f-4538-bbb5-f75ceb09358a", "PROJECTPREMIUM"),
    ),
    # --- Power Platform ---
    _o(
        POWER_BI_PRO,
        "Power BI Pro",
        "14.00",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(POWER_BI_PPU,),
        entra=("f8a1db68-be16-40ed-86d5-cb42ce701560", "POWER_BI_PRO"),
    ),
    _o(
        POWER_BI_PPU,
        "Power BI Premium Per User",
        "24.00",
        max_quantity=ENTERPRISE_MAX,
        entra=("c1d032e0-5619-4761-9b5c-75b6831e1711", "PBI_PREMIUM_PER_USER"),
    ),
    _o(
        "CFQ7TTC0LH2H:0001",
        "Power Apps Premium",
        "20.00",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        entra=("b30411f5-fea1-4a59-9ad9-3db7c7ead579", "POWERAPPS_PER_USER"),
    ),
    _o(
        "CFQ7TTC0LSGZ:0001",
        "Power Automate Premium",
        "15.00",
        plans=ANNUAL_ONLY,
        max_quantity=ENTERPRISE_MAX,
        entra=("eda1941c-3c4f-4995-b5eb-e85a42175ab9", "POWERAUTOMATE_ATTENDED_RPA"),
    ),
    # --- Dynamics 365, with "(36 mo)" three-year terms (facts 4.2) ---
    _o(
        SALES_PRO,
        "Dynamics 365 Sales Professional",
        "65.00",
        plans=WITH_P3Y,
        product_title="Dynamics 365 Sales",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(SALES_ENTERPRISE,),
        entra=("be9f9771-1c64-4618-9907-244325141096", "D365_SALES_PRO"),
    ),
    _o(
        SALES_ENTERPRISE,
        "Dynamics 365 Sales Enterprise",
        "105.00",
        plans=WITH_P3Y,
        product_title="Dynamics 365 Sales",
        max_quantity=ENTERPRISE_MAX,
        entra=("1e1a282c-9c54-43a2-9310-98ef728faace", "DYN365_ENTERPRISE_SALES"),
    ),
    _o(
        "CFQ7TTC0LGWF:0001",
        "Dynamics 365 Customer Service Professional",
        "50.00",
        plans=WITH_P3Y,
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(CUSTOMER_SERVICE_ENTERPRISE,),
    ),
    _o(
        CUSTOMER_SERVICE_ENTERPRISE,
        "Dynamics 365 Customer Service Enterprise",
        "105.00",
        plans=WITH_P3Y,
        max_quantity=ENTERPRISE_MAX,
        entra=("749742bf-0d37-4158-a120-33567104deeb", "DYN365_ENTERPRISE_CUSTOMER_SERVICE"),
    ),
    _o(
        "CFQ7TTC0LH3D:0001",
        "Dynamics 365 Finance",
        "180.00",
        plans=WITH_P3Y,
        # Microsoft sells the Finance base licence from 20 seats: the sandbox's minimum-quantity case
        min_quantity=20,
        max_quantity=ENTERPRISE_MAX,
    ),
    _o(
        "CFQ7TTC0LH2X:0001",
        "Dynamics 365 Business Central Essentials",
        "80.00",
        plans=WITH_P3Y,
        product_title="Dynamics 365 Business Central",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(BC_PREMIUM,),
        entra=("2880026b-2b0c-4251-8656-5d41ff11e3aa", "DYN365_BUSCENTRAL_ESSENTIAL"),
    ),
    _o(
        BC_PREMIUM,
        "Dynamics 365 Business Central Premium",
        "110.00",
        plans=WITH_P3Y,
        product_title="Dynamics 365 Business Central",
        max_quantity=ENTERPRISE_MAX,
        entra=("f991cecc-3f91-4cd0-a9a8-bf1c8167e029", "DYN365_BUSCENTRAL_PREMIUM"),
    ),
    _o(
        "CFQ7TTC0LH2X:0003",
        "Dynamics 365 Business Central Team Members",
        "8.00",
        plans=ANNUAL_ONLY,
        product_title="Dynamics 365 Business Central",
        max_quantity=ENTERPRISE_MAX,
    ),
    # --- Microsoft's documented low-limit SKUs for trying seat caps in the sandbox (facts 4.3) ---
    _o(
        "CFQ7TTC0LH33:0001",
        "Dynamics 365 Business Central External Accountant",
        "0.00",  # free: Microsoft gives the external accountant licence away
        plans=ANNUAL_ONLY,
        max_quantity=3,
        tenant_max=3,
        entra=("9a1e33ed-9697-43f3-b84c-1b0959dbb1d4", "DYN365_FINANCIALS_ACCOUNTANT_SKU"),
    ),
    _o(
        IOT_SCENARIO,
        "IoT Intelligence Scenario Add-in",
        "130.00",
        plans=ANNUAL_ONLY,
        product_title="IoT Intelligence",
        max_quantity=6,
        tenant_max=6,
    ),
    _o(
        "CFQ7TTC0HD4F:0002",
        "IoT Intelligence Add-in Additional Machines",
        "85.00",
        plans=ANNUAL_ONLY,
        product_title="IoT Intelligence",
        is_addon=True,  # more machines only make sense on top of a scenario
        prerequisite_skus=(IOT_SCENARIO,),
        max_quantity=10,
        tenant_max=10,
    ),
    # --- Windows 365: the Hybrid Benefit SKU needs an attestation on the cart line (facts 4.3) ---
    _o(
        "CFQ7TTC0J203:0001",
        "Windows 365 Business 2 vCPU, 4 GB, 128 GB",
        "41.00",
        product_title="Windows 365 Business",
        tenant_max=SMB_CAP,
    ),
    _o(
        "CFQ7TTC0J203:0002",
        "Windows 365 Business 2 vCPU, 4 GB, 128 GB (with Windows Hybrid Benefit)",
        "31.00",
        product_title="Windows 365 Business",
        description="Windows 365 Business for users whose devices already have Windows 10 or 11 Pro licences.",
        tenant_max=SMB_CAP,
        requires_attestation=True,
    ),
    _o(
        "CFQ7TTC0HHS9:0001",
        "Windows 365 Enterprise 2 vCPU, 8 GB, 128 GB",
        "41.00",
        plans=ANNUAL_ONLY,
        product_title="Windows 365 Enterprise",
        max_quantity=ENTERPRISE_MAX,
        entra=("e2aebe6c-897d-480f-9d62-fff1381581f7", "CPC_E_2C_8GB_128GB"),
    ),
    # --- Education: only for customers qualified as education (NCE_RULES 2). Microsoft 365 A1 is left out:
    # it is a 72-month upfront offer (facts 4.2), a term NCE_RULES 1 does not sell. ---
    _o(
        "CFQ7TTC0LHPK:000W",
        "Office 365 A1 for faculty",
        "0.00",  # free for qualified institutions
        plans=ANNUAL_ONLY,
        segment="education",
        max_quantity=100000,
        upgrade_targets=(A3_FACULTY,),
        entra=("94763226-9b3c-4e75-a931-5c89701abe66", "STANDARDWOFFPACK_FACULTY"),
    ),
    _o(
        A3_FACULTY,
        "Microsoft 365 A3 for faculty",
        "5.80",
        plans=ANNUAL_ONLY,
        product_title="Microsoft 365 A3",
        segment="education",
        max_quantity=100000,
        upgrade_targets=(A5_FACULTY,),
        entra=("4b590615-0888-425a-a965-b3bf7789848d", "M365EDU_A3_FACULTY"),
    ),
    _o(
        "CFQ7TTC0LHPL:000X",
        "Microsoft 365 A3 for students",
        "4.30",
        plans=ANNUAL_ONLY,
        product_title="Microsoft 365 A3",
        segment="education",
        max_quantity=100000,
        entra=("7cfd9a2b-e110-4c39-bf20-c6a3f36a3121", "M365EDU_A3_STUDENT"),
    ),
    _o(
        A5_FACULTY,
        "Microsoft 365 A5 for faculty",
        "10.80",
        plans=ANNUAL_ONLY,
        product_title="Microsoft 365 A5",
        segment="education",
        max_quantity=100000,
        entra=("e97c048c-37a4-45fb-ab50-922fbf07a370", "M365EDU_A5_FACULTY"),
    ),
    # --- Government (GCC): only for customers qualified as government ---
    _o(
        "CFQ7TTC0LH0C:0001",
        "Office 365 G1 GCC",
        "8.00",
        plans=ANNUAL_ONLY,
        segment="government",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(G3_GCC, M365_G3_GCC),
    ),
    _o(
        G3_GCC,
        "Office 365 G3 GCC",
        "20.00",
        plans=ANNUAL_ONLY,
        segment="government",
        max_quantity=ENTERPRISE_MAX,
        upgrade_targets=(M365_G3_GCC,),
        entra=("535a3a29-c5f0-42fe-8215-d3b9e1f38c4a", "ENTERPRISEPACK_GOV"),
    ),
    _o(
        M365_G3_GCC,
        "Microsoft 365 G3 GCC",
        "32.00",
        plans=ANNUAL_ONLY,
        segment="government",
        max_quantity=ENTERPRISE_MAX,
    ),
    # --- Nonprofit: discounted staff pricing and donated grants, same 300 small-business cap ---
    _o(
        "CFQ7TTC0LH18:000D",
        "Microsoft 365 Business Basic (Nonprofit Grant)",
        "0.00",  # a donation: free, within the small-business cap
        product_title="Microsoft 365 Business Basic",
        segment="nonprofit",
        tenant_max=SMB_CAP,
        upgrade_targets=(NONPROFIT_PREMIUM,),
        entra=("3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS"),
    ),
    _o(
        "CFQ7TTC0LDPB:000C",
        "Microsoft 365 Business Standard (Nonprofit Staff Pricing)",
        "3.00",
        product_title="Microsoft 365 Business Standard",
        segment="nonprofit",
        tenant_max=SMB_CAP,
        upgrade_targets=(NONPROFIT_PREMIUM,),
        entra=("f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM"),
    ),
    _o(
        NONPROFIT_PREMIUM,
        "Microsoft 365 Business Premium (Nonprofit Staff Pricing)",
        "5.50",
        product_title="Microsoft 365 Business Premium",
        segment="nonprofit",
        tenant_max=SMB_CAP,
        entra=("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB"),
    ),
    _o(
        "CFQ7TTC0LCHC:000B",
        "Microsoft 365 Business Premium (Nonprofit Grant)",
        "0.00",  # Microsoft's grant covered 10 seats per organisation
        plans=ANNUAL_ONLY,
        product_title="Microsoft 365 Business Premium",
        segment="nonprofit",
        max_quantity=10,
        tenant_max=10,
        entra=("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB"),
    ),
    # --- Trials: free for one month, 25 seats; a trial licence is the paid SKU's Entra licence (facts 6.5) ---
    _o(
        "CFQ7TTC0LCHC:0007",
        "Microsoft 365 Business Premium Trial",
        "0.00",
        plans=TRIAL,
        kind="trial",
        product_title="Microsoft 365 Business Premium",
        max_quantity=TRIAL_SEATS,
        tenant_max=TRIAL_SEATS,
        upgrade_targets=(PREMIUM,),  # NCE trials convert to paid through the transitions API (facts 6.5)
        entra=("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB"),
    ),
    _o(
        "CFQ7TTC0LFLZ:0007",
        "Microsoft 365 E5 Trial",
        "0.00",
        plans=TRIAL,
        kind="trial",
        product_title="Microsoft 365 E5",
        max_quantity=TRIAL_SEATS,
        tenant_max=TRIAL_SEATS,
        upgrade_targets=(M365_E5,),
        entra=("06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5"),
    ),
    _o(
        "CFQ7TTC0RM8K:0007",
        "Microsoft Teams Premium Trial",
        "0.00",
        plans=TRIAL,
        kind="trial",
        product_title="Microsoft Teams Premium",
        max_quantity=TRIAL_SEATS,
        tenant_max=TRIAL_SEATS,
        is_addon=True,
        prerequisite_skus=SUITES,
        upgrade_targets=(TEAMS_PREMIUM,),
        entra=("989a1621-93bc-4be0-835c-fe30171d6463", "Microsoft_Teams_Premium"),
    ),
    _o(
        "CFQ7TTC0L3PB:0007",
        "Power BI Pro Trial",
        "0.00",
        plans=TRIAL,
        kind="trial",
        product_title="Power BI Pro",
        max_quantity=TRIAL_SEATS,
        tenant_max=TRIAL_SEATS,
        upgrade_targets=(POWER_BI_PRO,),
        entra=("f8a1db68-be16-40ed-86d5-cb42ce701560", "POWER_BI_PRO"),
    ),
    # --- Software subscriptions: price per term year; no Entra licence (facts 4.2) ---
    _o(
        "DG7GMGF0DVSV:000P",
        "Windows Server 2022 Standard - 2 Core License Pack",
        "48.00",
        plans=SOFTWARE,
        kind="software_subscription",
        product_title="Windows Server 2022 Standard",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0DVSW:0002",
        "Windows Server 2022 - 1 User CAL",
        "15.00",
        plans=SOFTWARE,
        kind="software_subscription",
        product_title="Windows Server 2022 CAL",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0FKZV:0002",
        "SQL Server 2022 Standard - 2 Core License Pack",
        "1418.00",
        plans=SOFTWARE,
        kind="software_subscription",
        product_title="SQL Server 2022 Standard",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0FKZW:0001",
        "SQL Server 2022 Standard (per server)",
        "310.00",
        plans=SOFTWARE,
        kind="software_subscription",
        product_title="SQL Server 2022 Standard",
        max_quantity=SERVER_MAX,
    ),
    # --- Perpetual licences: price per licence, billed once, no term ---
    _o(
        "DG7GMGF0PN5D:0002",
        "Office LTSC Standard 2024",
        "565.00",
        plans=PERPETUAL,
        kind="perpetual",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0PN5F:0002",
        "Office LTSC Professional Plus 2024",
        "770.00",
        plans=PERPETUAL,
        kind="perpetual",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0PN42:0002",
        "Visio LTSC Standard 2024",
        "354.00",
        plans=PERPETUAL,
        kind="perpetual",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0PWHC:0003",
        "Windows Server 2025 Standard - 16 Core License Pack",
        "1176.00",
        plans=PERPETUAL,
        kind="perpetual",
        product_title="Windows Server 2025 Standard",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0PWHD:0001",
        "Windows Server 2025 Datacenter - 16 Core License Pack",
        "6771.00",
        plans=PERPETUAL,
        kind="perpetual",
        product_title="Windows Server 2025 Datacenter",
        max_quantity=SERVER_MAX,
    ),
    _o(
        "DG7GMGF0PWHT:0002",
        "Windows Server 2025 - 1 User CAL",
        "57.00",
        plans=PERPETUAL,
        kind="perpetual",
        product_title="Windows Server 2025 CAL",
        max_quantity=SERVER_MAX,
    ),
)

_BY_KEY = {offer.key: offer for offer in OFFERS}

# Offers whose price moves on the sandbox's price-change date (always the 1st of a month, facts 5.3):
# the factor applies to rows from that day on. One decrease, so clients cannot assume prices only rise.
PRICE_CHANGES: dict[str, Decimal] = {
    BASIC: Decimal("1.05"),
    STANDARD: Decimal("1.05"),
    PREMIUM: Decimal("1.05"),
    "CFQ7TTC0LH0T:0001": Decimal("1.10"),  # Teams Phone Standard
    POWER_BI_PRO: Decimal("1.05"),
    SALES_PRO: Decimal("0.95"),  # the decrease
}


def normalize_sku_id(sku_id: str) -> str:
    """Price sheets sometimes drop leading zeros ("1" for "0001"): compare on 4 characters (facts 5.2)."""
    return str(sku_id).strip().upper().zfill(4)


def offer_by_key(product_id: str, sku_id: str) -> Offer | None:
    return _BY_KEY.get(f"{str(product_id).strip().upper()}:{normalize_sku_id(sku_id)}")


def catalog_item_id(offer: Offer) -> str:
    """ProductId:SkuId:AvailabilityId, what a cart line buys (facts 4.2)."""
    return f"{offer.key}:{offer.availability_id}"


def offers_for(segment: str | None = None, kind: str | None = None) -> tuple[Offer, ...]:
    return tuple(o for o in OFFERS if (segment is None or o.segment == segment) and (kind is None or o.kind == kind))


def currency_of(market: str) -> str:
    try:
        return MARKETS[market]
    except KeyError:
        raise ValueError(f"The sandbox has no price sheet for market {market!r}.") from None


# --- Prices ------------------------------------------------------------------------------------------------


def _term_price(value: Decimal, currency: str) -> Decimal:
    """Unit prices carry 4 decimals (NCE_RULES 2); the sheet then shows them in the currency's minor unit."""
    return round_amount(round_unit_price(value), currency)


def erp_price(
    offer: Offer, term: str | None, billing_cycle: str, currency: str, factor: Decimal = Decimal(1)
) -> Decimal:
    """Microsoft's estimated retail price ("ERP Price") for the whole term, in `currency`.

    `factor` is a price change (PRICE_CHANGES) applied to the list price.
    """
    if (term, billing_cycle) not in offer.plans:
        raise ValueError(f"{offer.key} is not sold as {term}/{billing_cycle}.")
    if offer.kind == "trial" or billing_cycle == "none":
        return _term_price(Decimal(0), currency)  # trials are free (facts 5.3)
    base = offer.list_price_usd * factor * FX_FROM_USD[currency]
    if offer.kind == "perpetual":
        return _term_price(base, currency)  # per licence
    if offer.kind == "software_subscription":
        return _term_price(base * SOFTWARE_TERM_YEARS[str(term)], currency)  # per term
    if term == "P1M":
        return _term_price(base * MONTHLY_TERM_PREMIUM, currency)  # one month, 20% dearer per month
    # P1Y and P3Y: the annual term's monthly price for every month of the term; paying monthly adds 5%
    upfront = _term_price(base * TERM_MONTHS[str(term)], currency)
    if billing_cycle == "monthly":
        return _term_price(upfront * MONTHLY_BILLING_PREMIUM, currency)
    return upfront


def term_prices(
    offer: Offer, term: str | None, billing_cycle: str, currency: str, factor: Decimal = Decimal(1)
) -> tuple[Decimal, Decimal]:
    """(UnitPrice, ERP Price) for the whole term in `currency`: the partner's cost and the retail price."""
    erp = erp_price(offer, term, billing_cycle, currency, factor)
    for cost_term, cost_cycle, cost in offer.term_costs_usd:
        if (cost_term, cost_cycle) == (term, billing_cycle):
            return _term_price(cost * factor * FX_FROM_USD[currency], currency), erp
    return _term_price(erp * offer.cost_factor, currency), erp


# --- Price sheet ---------------------------------------------------------------------------------------------

# Microsoft's NCE license-based columns in order (facts 5.1); Segment after them is 3P evidence (facts 5.2)
COLUMNS = (
    "ProductTitle",
    "ProductId",
    "SkuId",
    "SkuTitle",
    "Publisher",
    "SkuDescription",
    "UnitOfMeasure",
    "TermDuration",
    "BillingPlan",
    "Market",
    "Currency",
    "UnitPrice",
    "PricingTierRangeMin",
    "PricingTierRangeMax",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "Tags",
    "ERP Price",
    "Segment",
)
BILLING_PLAN_LABELS = {
    "monthly": "Monthly",
    "annual": "Annual",
    "triennial": "Triennial",
    "none": "None",
    "one_time": "OneTime",
}
SEGMENT_LABELS = {
    "commercial": "Commercial",
    "education": "Education",
    "government": "Government",
    "nonprofit": "Charity",  # the 3P model of the file calls nonprofit prices "Charity" (facts 5.2)
}


def sheet_time(value: datetime) -> str:
    """Microsoft's sheet format, month first and 12-hour clock: "2/1/2019 12:00:00 AM" (facts 5.1)."""
    hour = value.hour % 12 or 12
    half = "AM" if value.hour < 12 else "PM"
    return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d}:{value.second:02d} {half}"


def sheet_number(value: Decimal) -> str:
    """Prices as Microsoft prints them: no exponent and no trailing zeros ("115.2", "144": facts 5.1)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _spans(offer: Offer, change_date: date) -> list[tuple[datetime, datetime, Decimal]]:
    """The effective ranges of an offer's rows and the price factor in force in each."""
    if offer.key not in PRICE_CHANGES:
        return [(SHEET_START, FAR_FUTURE, Decimal(1))]
    change = datetime.combine(change_date, time())  # naive UTC, like the sheet
    # the old row ends the second before the new one starts, as Microsoft's rows do (facts 10C)
    return [(SHEET_START, change - timedelta(seconds=1), Decimal(1)), (change, FAR_FUTURE, PRICE_CHANGES[offer.key])]


def _segments(segment_filter: str | Iterable[str] | None) -> set[str]:
    if segment_filter is None:
        return set(SEGMENTS)
    chosen = {segment_filter} if isinstance(segment_filter, str) else set(segment_filter)
    unknown = chosen - set(SEGMENTS)
    if unknown:
        raise ValueError(f"Unknown segment(s): {', '.join(sorted(unknown))}.")
    return chosen


def price_sheet_rows(
    market: str,
    change_date: date,
    *,
    segment_filter: str | Iterable[str] | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> list[dict[str, str]]:
    """The NCE license-based price sheet of `market`, one row per offer, plan and effective range.

    Every row is in force from SHEET_START with no end, except the offers of PRICE_CHANGES: their old row
    ends the second before `change_date` and a new row at the changed price starts on it.
    """
    currency = currency_of(market)
    if change_date.day != 1:
        raise ValueError("Microsoft changes prices on the first of a month (facts 5.3).")
    if change_date <= SHEET_START.date():
        raise ValueError(f"The price change must come after the sheet starts ({SHEET_START.date()}).")
    segments = _segments(segment_filter)
    rows = []
    for offer in OFFERS:
        if offer.segment not in segments:
            continue
        for term, billing_cycle in offer.plans:
            for start, end, factor in _spans(offer, change_date):
                if window and not (start <= window[1] and end >= window[0]):
                    continue  # a timeline's sheet holds the rows in force at some time of its month
                unit, erp = term_prices(offer, term, billing_cycle, currency, factor)
                rows.append(
                    {
                        "ProductTitle": offer.product_title,
                        "ProductId": offer.product_id,
                        "SkuId": offer.sku_id,
                        "SkuTitle": offer.sku_title,
                        "Publisher": offer.publisher,
                        "SkuDescription": offer.description,
                        "UnitOfMeasure": "",  # Azure only (facts 5.2)
                        "TermDuration": term or "",  # perpetual licences have no term
                        "BillingPlan": BILLING_PLAN_LABELS[billing_cycle],
                        "Market": market,
                        "Currency": currency,
                        "UnitPrice": sheet_number(unit),
                        "PricingTierRangeMin": "",
                        "PricingTierRangeMax": "",
                        "EffectiveStartDate": sheet_time(start),
                        "EffectiveEndDate": sheet_time(end),
                        "Tags": "; ".join(offer.tags),
                        "ERP Price": sheet_number(erp),
                        "Segment": SEGMENT_LABELS[offer.segment],
                    }
                )
    return rows


def price_sheet_csv(
    market: str,
    change_date: date,
    *,
    segment_filter: str | Iterable[str] | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> str:
    """The sheet as Microsoft streams it: every field quoted, header first (facts 5.1 sample)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writeheader()
    writer.writerows(price_sheet_rows(market, change_date, segment_filter=segment_filter, window=window))
    return out.getvalue()


# --- Promotions (facts 6.4) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionProduct:
    """A product, term and billing cycle a promotion discounts (requiredProducts)."""

    product_id: str
    sku_id: str
    term: str
    billing_cycle: str  # lower-case, as the cart API spells it
    percent: Decimal  # PercentDiscount: 0.05 is 5% off


@dataclass(frozen=True)
class Promotion:
    id: str  # "XXXXXXXXXXXX:0001:XXXXXXXXXXXX" like Microsoft's
    name: str
    description: str
    products: tuple[PromotionProduct, ...]
    is_auto_applicable: bool
    # dates move with the sandbox's clock so the promotions stay current: the promotion starts on the 1st
    # of the month `starts_in_months` from today's month (negative: already started) and runs `months` months
    starts_in_months: int
    months: int
    min_seats: int | None = None
    max_seats: int | None = None
    first_purchase_only: bool = False
    max_redemptions: int | None = None

    def window(self, today: date) -> tuple[datetime, datetime]:
        start = add_months(today.replace(day=1), self.starts_in_months)
        last_day = add_months(start, self.months) - timedelta(days=1)
        return (
            datetime.combine(start, time(), tzinfo=UTC),
            datetime.combine(last_day, time(23, 59, 59), tzinfo=UTC),
        )

    def is_active(self, today: date) -> bool:
        start, end = self.window(today)
        return start.date() <= today <= end.date()

    def discount_for(self, product_id: str, sku_id: str, term: str | None, billing_cycle: str) -> Decimal | None:
        """The percent off for this product, term and billing cycle, or None when the promotion does not cover it."""
        for p in self.products:
            if (p.product_id, p.sku_id, p.term, p.billing_cycle) == (
                product_id,
                normalize_sku_id(sku_id),
                term,
                billing_cycle.lower(),
            ):
                return p.percent
        return None


def _discount(key: str, plans: Iterable[Plan], percent: str) -> tuple[PromotionProduct, ...]:
    product_id, sku_id = key.split(":")
    return tuple(PromotionProduct(product_id, sku_id, str(t), c, Decimal(percent)) for t, c in plans)


PROMOTIONS: tuple[Promotion, ...] = (
    # Microsoft's own sample: 5% off Visio Plan 1 on an annual term paid upfront, applied automatically
    Promotion(
        id="39NFJQT1PJQB:0001:39NFJQT1Q5KN",
        name="Visio Plan 1",
        description="5% off Visio Plan 1 on a one-year term paid annually.",
        products=_discount(VISIO_P1, [("P1Y", "annual")], "0.05"),
        is_auto_applicable=True,
        starts_in_months=-1,
        months=3,
    ),
    # first purchase only, 1-300 seats: the partner must name it on the cart line
    Promotion(
        id="39NFJQT1RZ4D:0001:39NFJQT1Q7MW",
        name="Microsoft 365 Business Standard first purchase",
        description="10% off a customer's first Microsoft 365 Business Standard subscription on a one-year term.",
        products=_discount(STANDARD, [("P1Y", "annual"), ("P1Y", "monthly")], "0.10"),
        is_auto_applicable=False,
        starts_in_months=0,
        months=6,
        min_seats=1,
        max_seats=SMB_CAP,
        first_purchase_only=True,
        max_redemptions=1,
    ),
    # three-year terms only: a one-year purchase gets no discount (eligibility error "Term", facts 6.4)
    Promotion(
        id="39NFJQT1T6HX:0001:39NFJQT1Q9KB",
        name="Dynamics 365 Sales Enterprise (36 mo)",
        description="15% off Dynamics 365 Sales Enterprise on a three-year term.",
        products=_discount(SALES_ENTERPRISE, [("P3Y", "monthly"), ("P3Y", "annual"), ("P3Y", "triennial")], "0.15"),
        is_auto_applicable=True,
        starts_in_months=-2,
        months=12,
        min_seats=5,
        max_seats=ENTERPRISE_MAX,
    ),
    # starts next month: listed by id, but not among the active promotions yet
    Promotion(
        id="39NFJQT1V3LC:0001:39NFJQT1QB2P",
        name="Microsoft 365 E5 upgrade offer",
        description="10% off Microsoft 365 E5 on a one-year term.",
        products=_discount(M365_E5, [("P1Y", "annual"), ("P1Y", "monthly")], "0.10"),
        is_auto_applicable=True,
        starts_in_months=1,
        months=3,
    ),
)

_PROMOTIONS_BY_ID = {promotion.id: promotion for promotion in PROMOTIONS}


def promotion_by_id(promotion_id: str) -> Promotion | None:
    return _PROMOTIONS_BY_ID.get(promotion_id)


def active_promotions(today: date) -> tuple[Promotion, ...]:
    """What GET /productpromotions lists: the promotions whose start and end dates contain `today` (facts 6.4)."""
    return tuple(p for p in PROMOTIONS if p.is_active(today))


def promotions_for(
    product_id: str, sku_id: str, term: str | None, billing_cycle: str, today: date
) -> tuple[tuple[Promotion, Decimal], ...]:
    """Active promotions covering a cart line, with their percent off. Seat and first-purchase checks need
    the customer's subscriptions, so they are left to the caller."""
    found = []
    for promotion in active_promotions(today):
        percent = promotion.discount_for(product_id, sku_id, term, billing_cycle)
        if percent is not None:
            found.append((promotion, percent))
    return tuple(found)


def promotion_resource(promotion: Promotion, today: date) -> dict:
    """Microsoft's promotion resource (facts 6.4; get-promotions and get-promotion-by-id samples)."""
    start, end = promotion.window(today)
    constraints: dict[str, list] = {}
    if promotion.min_seats is not None or promotion.max_seats is not None:
        constraints["seatConstraints"] = [
            {"minSeats": promotion.min_seats, "maxSeats": promotion.max_seats, "type": "SubscriptionQuantity"}
        ]
    if promotion.max_redemptions is not None:
        constraints["assetOwnershipLimits"] = [
            {"minAssets": 0, "maxAssets": promotion.max_redemptions, "type": "LifetimeRedemptionCount"}
        ]
    if promotion.first_purchase_only:
        constraints["eligibilityConstraints"] = [{"isApplicable": True, "type": "FirstPurchase"}]
    resource = {
        "id": promotion.id,
        "name": promotion.name,
        "description": promotion.description,
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "properties": {"isAutoApplicable": promotion.is_auto_applicable},
        "requiredProducts": [
            {
                "productId": p.product_id,
                "skuId": p.sku_id,
                "term": {"duration": p.term, "billingCycle": BILLING_PLAN_LABELS[p.billing_cycle]},
                "pricingPolicies": [{"policyType": "PercentDiscount", "value": str(p.percent)}],
            }
            for p in promotion.products
        ],
    }
    if constraints:
        resource["promotionConstraints"] = constraints
    return resource


# --- Legacy (pre-NCE) offers and their new commerce equivalents (facts 7.7) ---------------------------------
# Ids are Microsoft's legacy CSP offer GUIDs: Exchange Online (Plan 1) and its Exchange Online Archiving add-on
# are the pair of the purchase-an-add-on sample, SharePoint Online (Plan 2) is on the invoice line-item sample, and
# the add-on's prerequisite list (get-a-list-of-add-ons-for-an-offer-id) names the others. A legacy subscription
# migrates to the NCE offer named here; `nce_key` None means new commerce has no equivalent (validation error 5).


@dataclass(frozen=True)
class LegacyOffer:
    offer_id: str  # upper-case GUID, as Microsoft's legacy subscriptions show it in offerId
    name: str
    nce_key: str | None  # "ProductId:SkuId" of the shipped NCE catalog, or None
    base_offer_ids: tuple[str, ...] = ()  # an add-on: the legacy offers it is bought on

    @property
    def is_addon(self) -> bool:
        return bool(self.base_offer_ids)

    @property
    def nce_offer(self) -> Offer | None:
        return _BY_KEY.get(self.nce_key) if self.nce_key else None


LEGACY_O365_E3 = "796B6B5F-613C-4E24-A17C-EBA730D49C02"
LEGACY_O365_E1 = "91FD106F-4B2C-4938-95AC-F54F74E9A239"
LEGACY_EXO_P1 = "195416C1-3447-423A-B37B-EE59A99A19C4"
LEGACY_BUSINESS_ESSENTIALS = "BD938F12-058F-4927-BBA3-AE36B1D2501C"
LEGACY_BUSINESS_PREMIUM = "031C9E47-4802-4248-838E-778FB1D2CC05"
LEGACY_EXCHANGE_ARCHIVING = "2828BE95-46BA-4F91-B2FD-0BEF192ECF60"
LEGACY_SHAREPOINT_P2 = "618B53FE-9B99-428B-9745-F706AEAF3979"

LEGACY_OFFERS: tuple[LegacyOffer, ...] = (
    LegacyOffer(LEGACY_O365_E3, "Office 365 Enterprise E3", O365_E3),
    LegacyOffer(LEGACY_O365_E1, "Office 365 Enterprise E1", O365_E1),
    LegacyOffer(LEGACY_EXO_P1, "Exchange Online (Plan 1)", EXO_P1),
    # the legacy Business names; new commerce sells them renamed as Microsoft 365 Business Basic / Standard
    LegacyOffer(LEGACY_BUSINESS_ESSENTIALS, "Office 365 Business Essentials", BASIC),
    LegacyOffer(LEGACY_BUSINESS_PREMIUM, "Office 365 Business Premium", STANDARD),
    LegacyOffer(
        LEGACY_EXCHANGE_ARCHIVING,
        "Exchange Online Archiving for Exchange Online",
        "CFQ7TTC0LH0Z:0001",
        base_offer_ids=(LEGACY_EXO_P1, LEGACY_O365_E1, LEGACY_BUSINESS_ESSENTIALS, LEGACY_BUSINESS_PREMIUM),
    ),
    LegacyOffer(LEGACY_SHAREPOINT_P2, "SharePoint Online (Plan 2)", None),  # not in the sandbox's NCE catalog
)

_LEGACY_BY_ID = {offer.offer_id: offer for offer in LEGACY_OFFERS}


def legacy_offer(offer_id: str) -> LegacyOffer | None:
    return _LEGACY_BY_ID.get(str(offer_id).strip().upper())
