"""The CLUSNET partnership and its first three seminars, as the project description tells them.

Seminar days of the month are not in the source ("June 2009", "early October", "end of
November"): the dates below are illustrative within those periods. Due dates are a year on.

The three seminars' clusters are the source's. The clusters of the other seven partner cities and
the inter-cluster links below are ILLUSTRATIVE: the source says links "are being established" and
that staff exchanges happen, but names none. They are plausible examples (sectors the cities are
known for), so that the network picture and the evidence on follow-ups have something to show.
"""

from datetime import date
from typing import TypedDict

PARTNERS = [
    # slug, name, kind, country, is_lead
    ("lyon", "Lyon", "city", "France", True),
    ("barcelona", "Barcelona", "city", "Spain", False),
    ("munich", "Munich", "city", "Germany", False),
    ("dortmund", "Dortmund", "city", "Germany", False),
    ("leipzig", "Leipzig", "city", "Germany", False),
    ("manchester", "Manchester", "city", "United Kingdom", False),
    ("helsinki", "Helsinki", "city", "Finland", False),
    ("budapest", "Budapest", "city", "Hungary", False),
    ("gothenburg", "Gothenburg", "city", "Sweden", False),
    ("eindhoven", "Eindhoven", "city", "Netherlands", False),
    ("eurocities", "Eurocities", "organisation", "Belgium", False),
    ("sse", "Stockholm School of Economics", "organisation", "Sweden", False),
]

CLUSTERS = [
    # slug, name, sector, city
    ("mediacityuk", "MediaCityUK", "new media", "manchester"),
    ("lyon-cleantech", "Lyon cleantech cluster", "cleantech", "lyon"),
    ("leipzig-biocluster", "BioCluster Leipzig", "biotech", "leipzig"),
    # Illustrative (see the module's docstring).
    ("barcelona-media", "Barcelona 22@ media cluster", "media and ICT", "barcelona"),
    ("munich-media", "Munich media and film cluster", "media", "munich"),
    ("dortmund-logistics", "Dortmund logistics cluster", "logistics", "dortmund"),
    ("helsinki-ict", "Helsinki ICT cluster", "ICT", "helsinki"),
    ("budapest-biotech", "Budapest biotech cluster", "biotech", "budapest"),
    ("gothenburg-automotive", "Gothenburg automotive cluster", "automotive", "gothenburg"),
    ("eindhoven-hightech", "Eindhoven high-tech systems cluster", "high-tech systems", "eindhoven"),
]


class DemoSeminar(TypedDict):
    host_city: str
    cluster: str
    held_on: date
    theme: str
    recommendations: list[tuple[str, str, str]]  # (dimension, title, text)


SEMINARS: list[DemoSeminar] = [
    {
        "host_city": "manchester",
        "cluster": "mediacityuk",
        "held_on": date(2009, 6, 17),
        "theme": "Setting up MediaCityUK, a new international media cluster on a former brownfield",
        "recommendations": [
            (
                "objectives",
                "Focus on innovative performance",
                "The cluster should focus more strongly on how to improve its innovative performance.",
            ),
            (
                "processes",
                "Link industry with venture capital and universities",
                "Strong linkages should be promoted between industry and venture capitalists in the setting up of "
                "MediaCityUK, and between the university sector and industry.",
            ),
            (
                "processes",
                "Promote inter-cluster linkages",
                "Inter-cluster linkages should be promoted, which is particularly beneficial in the digital and media "
                "sector often dominated by SMEs.",
            ),
            (
                "objectives",
                "Strengthen branding for international visibility",
                "MediaCityUK should strengthen its branding efforts, crucial to gain international visibility.",
            ),
        ],
    },
    {
        "host_city": "lyon",
        "cluster": "lyon-cleantech",
        "held_on": date(2009, 10, 6),
        "theme": "A new cleantech cluster orienting Lyon towards a greener economy",
        "recommendations": [
            (
                "processes",
                "Build local stakeholder buy-in for the vision and strategy",
                "The vision and the strategy for the cluster, perceived as very top-down driven, should have a stronger "
                "buy-in from local stakeholders, which would also allow a greater implication of SMEs.",
            ),
            (
                "setting",
                "Choose the cluster manager with care",
                "The choice of the new cluster manager is crucial, especially considering the complex local policy and "
                "institutional landscape.",
            ),
            (
                "objectives",
                "Seek stronger private engagement",
                "The cluster is currently too focused on public funding and should strive for stronger private engagement.",
            ),
        ],
    },
    {
        "host_city": "leipzig",
        "cluster": "leipzig-biocluster",
        "held_on": date(2009, 11, 26),
        "theme": "The Leipzig biotech cluster, a major investment of the city",
        "recommendations": [
            (
                "setting",
                "Involve private industry",
                "The cluster suffers from a lack of private industry involvement; private companies should be drawn in.",
            ),
            (
                "processes",
                "Develop an FDI strategy and a business development agency",
                "There is a lack of angel and venture capital in the region: develop a strategy for foreign direct "
                "investment handled by a (currently non-existing) business development agency.",
            ),
            (
                "processes",
                "Raise the international profile through EU programmes",
                "The international profile of the cluster could be developed through active participation in EU funded "
                "activities, like CLUSNET or similar programmes.",
            ),
            (
                "objectives",
                "Build a stronger brand for the city region and the BioCluster",
                "To attract FDI and talent, a stronger brand should be developed for the city region in general and the "
                "BioCluster in particular.",
            ),
        ],
    },
]


# Illustrative too: tags, and which recommendation of an earlier seminar a later one relates to, so
# that peer learning ("the same advice elsewhere") has something to show. Keyed by (city, title).
TAGS: dict[tuple[str, str], list[str]] = {
    ("manchester", "Focus on innovative performance"): ["innovation"],
    ("manchester", "Link industry with venture capital and universities"): ["venture capital", "university-industry"],
    ("manchester", "Promote inter-cluster linkages"): ["inter-cluster links", "SMEs"],
    ("manchester", "Strengthen branding for international visibility"): ["branding", "international visibility"],
    ("lyon", "Build local stakeholder buy-in for the vision and strategy"): ["governance", "SMEs"],
    ("lyon", "Choose the cluster manager with care"): ["cluster management", "governance"],
    ("lyon", "Seek stronger private engagement"): ["private sector", "funding"],
    ("leipzig", "Involve private industry"): ["private sector"],
    ("leipzig", "Develop an FDI strategy and a business development agency"): ["FDI", "venture capital"],
    ("leipzig", "Raise the international profile through EU programmes"): ["international visibility", "inter-cluster links"],
    ("leipzig", "Build a stronger brand for the city region and the BioCluster"): ["branding", "FDI"],
}
RELATED: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("leipzig", "Involve private industry"): [("lyon", "Seek stronger private engagement")],
    ("leipzig", "Develop an FDI strategy and a business development agency"): [
        ("manchester", "Link industry with venture capital and universities")
    ],
}


class DemoLink(TypedDict):
    """An illustrative inter-cluster link; `answers` names recommendations as (target city, title)."""

    clusters: list[str]
    kind: str
    description: str
    starts_on: date | None
    ends_on: date | None
    status: str  # the status the seed brings it to, through the lifecycle's transitions
    public: bool
    answers: list[tuple[str, str]]
    staff_exchange: dict[str, str] | None


LINKS: list[DemoLink] = [
    {
        "clusters": ["mediacityuk", "barcelona-media"],
        "kind": "joint_project",
        "description": "Illustrative: a joint programme for the digital-media SMEs of MediaCityUK and Barcelona's 22@ district.",
        "starts_on": date(2010, 3, 1),
        "ends_on": None,
        "status": "active",
        "public": True,
        "answers": [("manchester", "Promote inter-cluster linkages")],
        "staff_exchange": None,
    },
    {
        "clusters": ["leipzig-biocluster", "budapest-biotech"],
        "kind": "study_visit",
        "description": "Illustrative: a study visit of Budapest biotech firms to the BioCluster, with EU programme partners.",
        "starts_on": date(2010, 5, 10),
        "ends_on": date(2010, 5, 12),
        "status": "established",
        "public": True,
        "answers": [("leipzig", "Raise the international profile through EU programmes")],
        "staff_exchange": None,
    },
    {
        "clusters": ["lyon-cleantech", "eindhoven-hightech"],
        "kind": "staff_exchange",
        "description": "Illustrative: a Lyon cleantech project officer spends two weeks with the Eindhoven cluster team.",
        "starts_on": date(2010, 4, 12),
        "ends_on": date(2010, 4, 23),
        "status": "ended",
        "public": True,
        "answers": [("lyon", "Build local stakeholder buy-in for the vision and strategy")],
        "staff_exchange": {
            "person": "Project officer, Lyon cleantech cluster (illustrative)",
            "home_city": "lyon",
            "learned": "How a triple-helix board gives SMEs and universities a real say in the cluster strategy.",
        },
    },
    {
        "clusters": ["helsinki-ict", "gothenburg-automotive", "munich-media"],
        "kind": "cooperation_agreement",
        "description": "Illustrative: a cooperation agreement on shared open-innovation platforms.",
        "starts_on": None,
        "ends_on": None,
        "status": "proposed",
        "public": True,
        "answers": [],
        "staff_exchange": None,
    },
    {
        "clusters": ["dortmund-logistics", "gothenburg-automotive"],
        "kind": "study_visit",
        "description": "Illustrative: a planned visit on supplier logistics, not yet public.",
        "starts_on": None,
        "ends_on": None,
        "status": "proposed",
        "public": False,
        "answers": [],
        "staff_exchange": None,
    },
]
