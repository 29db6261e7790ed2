from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, StringConstraints


class Dimension(StrEnum):
    """The three parts of the Cluster Initiative Model used at every CLUSNET seminar."""

    setting = "setting"
    objectives = "objectives"
    processes = "processes"


class Language(StrEnum):
    """The languages the portal and the emails speak (a person's, a stakeholder's)."""

    en = "en"
    fr = "fr"
    de = "de"


LANGUAGE_PATTERN = f"^({'|'.join(Language)})$"  # for stored fields that keep the code as text
SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"  # a partner's or a cluster's id: lowercase, URL-safe
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]


# The roles that see private evidence (and private inter-cluster links): a city's officials (of their
# own city's follow-ups), the lead partner and admins. An integration sees public evidence only.
PRIVATE_EVIDENCE_READERS = frozenset({"city_official", "lead_partner", "admin"})


class Actor(BaseModel):
    """Who caused a change: the token id and its role (`system` for scheduled work)."""

    id: str
    role: str
    city: str | None = None


SYSTEM = Actor(id="system", role="system")
