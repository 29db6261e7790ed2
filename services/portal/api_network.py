"""The network picture: the clusters of the partner cities and the inter-cluster links between them.

The recommendations service owns the links (`GET /network`); `network.render` lays them out as an
SVG, and the page shows the same links as a table beside it. A signed-in person sees every link
their token may read; a visitor reads as the portal's public reader, public links only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.portal import network
from services.portal.web import StateDep, VisitorDep, render

router = APIRouter(include_in_schema=False)


async def network_picture(state: StateDep, bearer: str | None) -> network.NetworkPicture:
    """The whole network as `bearer` may see it; None: the public links, read as the public reader."""
    params: dict[str, Any] = {} if bearer else {"public_only": "true"}
    data = await state.services.get(bearer or await state.public_reader(), "recommendations", "/network", **params)
    return network.render(data)


@router.get("/network")
async def network_page(request: Request, state: StateDep, who: VisitorDep) -> Response:
    bearer = who.signed_in.bearer if who.signed_in else None
    picture = await network_picture(state, bearer)
    return render(request, who, "network.html", picture=picture, public_only=bearer is None)
