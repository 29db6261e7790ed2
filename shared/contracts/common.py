from enum import StrEnum

from pydantic import BaseModel


class Dimension(StrEnum):
    """The three parts of the Cluster Initiative Model used at every CLUSNET seminar."""

    setting = "setting"
    objectives = "objectives"
    processes = "processes"


class Actor(BaseModel):
    """Who caused a change: the token id and its role (`system` for scheduled work)."""

    id: str
    role: str
    city: str | None = None


SYSTEM = Actor(id="system", role="system")
