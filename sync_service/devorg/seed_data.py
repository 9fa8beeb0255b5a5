"""Reference data the seeder draws from: countries, names, companies and the product catalogue.

Kept apart from `seed.py` so the generator reads as logic; every table here is plain, immutable data.
Countries carry what makes a record look local: currency, locales, time zones, cities and names, so an
account in Munich is in EUR with German contacts and a rep in Europe/Berlin.
"""

from __future__ import annotations

from dataclasses import dataclass

# Units of each currency per US dollar, fixed so prices are deterministic.
RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0, "AUD": 1.52, "CAD": 1.36, "CHF": 0.88}
# Currencies without minor units.
WHOLE_CURRENCIES = frozenset({"JPY"})

_ANGLO_FIRST = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Daniel", "Karen",
    "Priya", "Wei", "Olivia", "Liam", "Aisha", "Noah", "Emma", "Ethan", "Chloe", "Mateo",
)  # fmt: skip
_ANGLO_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Patel", "Nguyen", "O'Brien", "Walker", "Young",
)  # fmt: skip
_GERMAN_FIRST = (
    "Lukas", "Anna", "Maximilian", "Sophie", "Jonas", "Marie", "Felix", "Lea", "Paul", "Hannah",
    "Jürgen", "Käthe", "Sören", "Jörg", "Mia", "Leon", "Emilia", "Tobias", "Franziska", "Matthias",
)  # fmt: skip
_GERMAN_LAST = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Zimmermann", "Krüger",
)  # fmt: skip
_FRENCH_FIRST = (
    "Camille", "Louis", "Léa", "Hugo", "Chloé", "Gabriel", "Manon", "Arthur", "Inès", "Jules",
    "Amélie", "Théo", "Zoé", "Raphaël", "Margaux", "Étienne", "Juliette", "Antoine", "Océane", "Mathis",
)  # fmt: skip
_FRENCH_LAST = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefèvre", "Michel", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Girard",
)  # fmt: skip
_SPANISH_FIRST = (
    "Lucía", "Hugo", "Martina", "Daniel", "Sofía", "Pablo", "María", "Álvaro", "Paula", "Adrián",
    "Carmen", "Javier", "Elena", "Sergio", "Laura", "Andrés", "Nuria", "Iñigo", "Marta", "José",
)  # fmt: skip
_SPANISH_LAST = (
    "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín",
    "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Navarro", "Torres",
)  # fmt: skip
_JAPANESE_FIRST = (
    "Haruto", "Yui", "Sota", "Hina", "Yuto", "Aoi", "Ren", "Sakura", "Kaito", "Mio",
    "Takumi", "Yuna", "Riku", "Akari", "Daiki", "Emi", "Kenji", "Naoko", "Hiroshi", "Yoko",
)  # fmt: skip
_JAPANESE_LAST = (
    "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato",
    "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue", "Kimura", "Hayashi", "Shimizu", "Mori",
)  # fmt: skip


@dataclass(frozen=True)
class Country:
    name: str
    currency: str
    weight: int  # share of customers, in percent
    contact_locales: tuple[tuple[str, int], ...]  # Contact.Preferred_Locale__c values with weights
    user_locale: str | None  # User.LocaleSidKey of reps based here; None: no reps based here
    language: str  # User.LanguageLocaleKey
    time_zones: tuple[str, ...]
    cities: tuple[tuple[str, str, str], ...]  # city, state/region, postal code
    phone_prefix: str
    legal_suffixes: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "United States", "USD", 45, (("en_US", 95), ("es_ES", 5)), "en_US", "en_US",
        ("America/New_York", "America/Los_Angeles"),
        (("San Francisco", "CA", "94105"), ("New York", "NY", "10001"), ("Austin", "TX", "73301"),
         ("Chicago", "IL", "60601"), ("Seattle", "WA", "98101"), ("Boston", "MA", "02108"),
         ("Denver", "CO", "80202"), ("Atlanta", "GA", "30303")),
        "+1", ("Inc.", "LLC", "Corp."), _ANGLO_FIRST, _ANGLO_LAST,
    ),
    Country(
        "Canada", "CAD", 7, (("en_CA", 80), ("fr_FR", 20)), "en_CA", "en_US", ("America/New_York",),
        (("Toronto", "ON", "M5H 2N2"), ("Vancouver", "BC", "V6B 1A1"), ("Montreal", "QC", "H2Y 1C6")),
        "+1", ("Inc.", "Ltd."), _ANGLO_FIRST, _ANGLO_LAST,
    ),
    Country(
        "United Kingdom", "GBP", 10, (("en_GB", 100),), "en_GB", "en_US", ("Europe/London",),
        (("London", "Greater London", "EC1A 1BB"), ("Manchester", "Greater Manchester", "M1 1AE"),
         ("Edinburgh", "Scotland", "EH1 1YZ")),
        "+44", ("Ltd", "plc"), _ANGLO_FIRST, _ANGLO_LAST,
    ),
    Country(
        "Germany", "EUR", 9, (("de_DE", 90), ("en_GB", 10)), "de_DE", "de", ("Europe/Berlin",),
        (("Berlin", "Berlin", "10115"), ("München", "Bayern", "80331"), ("Hamburg", "Hamburg", "20095")),
        "+49", ("GmbH", "AG"), _GERMAN_FIRST, _GERMAN_LAST,
    ),
    Country(
        "France", "EUR", 6, (("fr_FR", 95), ("en_GB", 5)), "fr_FR", "fr", ("Europe/Berlin",),
        (("Paris", "Île-de-France", "75001"), ("Lyon", "Auvergne-Rhône-Alpes", "69001")),
        "+33", ("SA", "SAS"), _FRENCH_FIRST, _FRENCH_LAST,
    ),
    # Served by the EUR reps in Berlin and Paris: User.LocaleSidKey has no Spanish value in this org.
    Country(
        "Spain", "EUR", 5, (("es_ES", 90), ("en_GB", 10)), None, "es", ("Europe/Berlin",),
        (("Madrid", "Madrid", "28001"), ("Barcelona", "Cataluña", "08001")),
        "+34", ("S.L.", "S.A."), _SPANISH_FIRST, _SPANISH_LAST,
    ),
    Country(
        "Switzerland", "CHF", 6, (("de_CH", 70), ("fr_FR", 20), ("en_GB", 10)), "de_CH", "de", ("Europe/Berlin",),
        (("Zürich", "ZH", "8001"), ("Genève", "GE", "1201"), ("Basel", "BS", "4001")),
        "+41", ("AG", "SA", "GmbH"), _GERMAN_FIRST, _GERMAN_LAST,
    ),
    Country(
        "Japan", "JPY", 6, (("ja_JP", 95), ("en_US", 5)), "ja_JP", "ja", ("Asia/Tokyo",),
        (("Tokyo", "Tokyo", "100-0001"), ("Osaka", "Osaka", "530-0001"), ("Yokohama", "Kanagawa", "220-0011")),
        "+81", ("K.K.", "Co., Ltd."), _JAPANESE_FIRST, _JAPANESE_LAST,
    ),
    Country(
        "Australia", "AUD", 6, (("en_AU", 100),), "en_AU", "en_US", ("Australia/Sydney",),
        (("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000"), ("Brisbane", "QLD", "4000")),
        "+61", ("Pty Ltd",), _ANGLO_FIRST, _ANGLO_LAST,
    ),
)  # fmt: skip

COMPANY_STEMS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent",
    "Hooli", "Vandelay", "Massive", "Blue Sky", "Northwind", "Contoso", "Fabrikam", "Litware", "Tailspin",
    "Wide World", "Proseware", "Lucerne", "Alpine", "Summit", "Harbor", "Granite", "Cedar", "Aurora", "Nimbus",
    "Vertex", "Quantum", "Helix", "Orbit", "Beacon", "Falcon", "Meridian", "Pinnacle", "Redwood", "Silverline",
    "Zenith", "Evergreen", "Ironclad", "Brightwater", "Copperleaf", "Starling", "Bluefin", "Oakridge",
    "Keystone", "Riverbend", "Lakeshore", "Sunpeak", "Polaris", "Cobalt", "Juniper", "Sequoia", "Tidewater",
    "Highland", "Crescent", "Lighthouse", "Monarch",
)  # fmt: skip
COMPANY_WORDS = (
    "Systems", "Dynamics", "Logistics", "Health", "Analytics", "Manufacturing", "Foods", "Energy", "Labs",
    "Networks", "Retail", "Financial", "Robotics", "Media", "Pharma", "Software", "Industries", "Solutions",
    "Holdings", "Biotech", "Aerospace", "Insurance", "Telecom", "Engineering", "Capital",
)  # fmt: skip
COMPANY_TAILS = ("", "", "", "Group", "International", "Global", "Partners", "Technologies")
RESELLER_WORDS = ("Channel Partners", "IT Solutions", "Technology Group", "Systems Integration", "Cloud Services")
DISTRIBUTOR_WORDS = ("Distribution", "Trade Distribution", "Wholesale IT")

INDUSTRIES = ("Technology", "Manufacturing", "Healthcare", "Finance", "Retail", "Education", "Government", "Energy")
STREETS = ("Main Street", "Market Street", "Harbour Road", "Park Avenue", "Station Road", "High Street", "Ring 1")
CONTACT_TITLES = (
    "CIO", "IT Director", "Head of IT", "Procurement Manager", "VP Operations", "Finance Director",
    "Systems Administrator", "Purchasing Lead", "CTO", "Office Manager",
)  # fmt: skip
PARTNER_TITLES = ("Partner Account Manager", "Channel Sales Rep", "Renewals Specialist", "Inside Sales")
REP_TITLES = ("Account Executive", "Senior Account Executive", "Renewals Manager", "Customer Success Manager")
CANCELLATION_REASONS = (
    "Switched to a competitor",
    "Budget cuts",
    "Company acquired",
    "Product no longer needed",
    "Went out of business",
    "Consolidated into another contract",
)


@dataclass(frozen=True)
class ProductSpec:
    code: str
    name: str
    family: str
    annual_usd: float  # list price per unit per year (one-off items: per unit)
    per_seat: bool  # sold by seat count rather than as a single unit
    renewable: bool  # appears on subscriptions and so on renewals


PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec("SW-PLAT-STD", "Platform Subscription - Standard", "Software", 240.0, True, True),
    ProductSpec("SW-PLAT-PRO", "Platform Subscription - Professional", "Software", 480.0, True, True),
    ProductSpec("SW-PLAT-ENT", "Platform Subscription - Enterprise", "Software", 900.0, True, True),
    ProductSpec("SW-ANLY", "Analytics Add-on", "Software", 120.0, True, True),
    ProductSpec("SW-API", "API Access Pack (1M calls)", "Software", 6000.0, False, True),
    ProductSpec("SW-STOR", "Additional Storage 1 TB", "Software", 1800.0, False, True),
    ProductSpec("SW-SBX", "Full Sandbox", "Software", 12000.0, False, True),
    ProductSpec("SW-SSO", "Single Sign-On Connector", "Software", 36.0, True, True),
    ProductSpec("SW-WFA", "Workflow Automation", "Software", 96.0, True, True),
    ProductSpec("SW-SEC", "Advanced Security Shield", "Software", 60.0, True, True),
    ProductSpec("SUP-STD", "Standard Support", "Support", 2400.0, False, True),
    ProductSpec("SUP-PRM", "Premier Support", "Support", 9600.0, False, True),
    ProductSpec("SUP-247", "24x7 Support Upgrade", "Support", 4800.0, False, True),
    ProductSpec("SUP-TAM", "Technical Account Manager", "Support", 36000.0, False, True),
    ProductSpec("SVC-MGD", "Managed Administration Service", "Services", 18000.0, False, True),
    ProductSpec("SVC-IMPL", "Implementation Services", "Services", 25000.0, False, False),
    ProductSpec("SVC-MIG", "Data Migration", "Services", 12000.0, False, False),
    ProductSpec("SVC-HC", "Annual Health Check", "Services", 5000.0, False, True),
    ProductSpec("SVC-INT", "Custom Integration", "Services", 20000.0, False, False),
    ProductSpec("TRN-LRN", "Learning Portal Subscription", "Training", 45.0, True, True),
    ProductSpec("TRN-ADM", "Administrator Training (per seat)", "Training", 1500.0, True, False),
    ProductSpec("TRN-USR", "End-User Training Day", "Training", 3500.0, False, False),
    ProductSpec("TRN-CERT", "Certification Voucher", "Training", 300.0, True, False),
    ProductSpec("HW-E100", "Edge Appliance E100", "Hardware", 4000.0, False, False),
    ProductSpec("HW-E300", "Edge Appliance E300", "Hardware", 11000.0, False, False),
    ProductSpec("HW-MNT-E100", "Appliance Maintenance E100", "Hardware", 800.0, False, True),
    ProductSpec("HW-MNT-E300", "Appliance Maintenance E300", "Hardware", 2200.0, False, True),
    ProductSpec("HW-RPL", "Advance Hardware Replacement", "Hardware", 1200.0, False, True),
    ProductSpec("HW-SENS", "IoT Sensor Pack", "Hardware", 150.0, True, False),
    ProductSpec("HW-GW", "Secure Gateway G1", "Hardware", 2500.0, False, False),
)
SEAT_COUNTS = (5, 10, 20, 25, 50, 75, 100, 150, 200, 250, 500)
