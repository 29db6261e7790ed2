"""The network picture: the clusters of the partner cities and the inter-cluster links between them.

The recommendations service owns the links (`GET /network`); `network.render` lays them out as an
SVG, and the page shows the same links as a table beside it. A signed-in person sees every link
their token may read; a visitor reads as the portal's public reader, public links only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.portal import labels, network
from services.portal.web import StateDep, VisitorDep, render

router = APIRouter(include_in_schema=False)


async def network_picture(state: StateDep, bearer: str | None, language: str) -> network.NetworkPicture:
    """The whole network as `bearer` may see it (None: the public links, read as the public reader),
    worded in `language`."""
    params: dict[str, Any] = {} if bearer else {"public_only": "true"}
    data = await state.services.get(bearer or await state.public_reader(), "recommendations", "/network", **params)
    return network.render(data, words=words_in(state.pages.gettext(language)))


def words_in(gettext: Callable[[str], str]) -> network.Words:
    """The picture's words from the catalogue (labels.py lists them)."""
    said = {name: gettext(message) for name, message in labels.NETWORK_WORDS.items()}
    return network.Words(
        **said,
        kinds={kind: gettext(message) for kind, message in labels.LINK_KINDS.items()},
        statuses={status: gettext(message) for status, message in labels.LINK_STATUSES.items()},
    )


@router.get("/network")
async def network_page(request: Request, state: StateDep, who: VisitorDep) -> Response:
    bearer = who.signed_in.bearer if who.signed_in else None
    picture = await network_picture(state, bearer, who.language)
    return render(request, who, "network.html", picture=picture, public_only=bearer is None)
