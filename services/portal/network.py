"""The network picture: lays out the clusters of the partner cities and the links between them, and
draws them as an accessible SVG, with the same data as table rows beside it.

Pure and framework-free: it takes the JSON of the recommendations service's `GET /network` (nodes =
clusters with their city and sector; edges = links with their clusters, kind, status, dates and
public flag) and answers strings and plain rows. The portal puts the SVG in its page (it is already
escaped) and renders the rows as a table.

Layout: every cluster on one circle, grouped by city (cities in alphabetical order, a gap between
two cities, the city's name outside its arc). A link of two clusters is a line; a link of more joins
each pair. Kind and status are never told by colour alone: the kind is the stroke's dash pattern,
the status its colour, and both are said in words in each link's <title>, in the legend and in the
table. Hand-written rather than a graph library: a circle layout is a few lines of trigonometry, and
the output must be plain SVG the portal can inline without a JavaScript renderer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from itertools import combinations
from typing import Any

KIND_LABELS = {
    "joint_project": "joint project",
    "staff_exchange": "staff exchange",
    "cooperation_agreement": "cooperation agreement",
    "study_visit": "study visit",
    "other": "other link",
}
# Dash patterns per kind (solid for the most common), readable in greyscale and print.
KIND_DASHES = {
    "joint_project": "",
    "cooperation_agreement": "12 5",
    "staff_exchange": "2 5",
    "study_visit": "10 4 2 4",
    "other": "5 5",
}
# Status colours, each at least 4.5:1 against white (WCAG AA for graphics needs 3:1).
STATUS_COLOURS = {
    "proposed": "#595959",
    "established": "#1d4ed8",
    "active": "#15803d",
    "ended": "#92400e",
    "cancelled": "#b91c1c",
}
STATUS_ORDER = tuple(STATUS_COLOURS)


@dataclass(frozen=True)
class Words:
    """What the picture says, in its reader's language (the portal passes its catalogue's words;
    these defaults are the English ones). Counts go as "label: n", so no plural forms are needed."""

    title: str = "Inter-cluster links between CLUSNET partner cities"
    # %(clusters)d, %(cities)d, %(links)d, and %(statuses)s: " (proposed: 2, active: 1)" or nothing
    summary: str = (
        "Clusters: %(clusters)d. Partner cities: %(cities)d. Links: %(links)d%(statuses)s. "
        "The table beside it lists the same links."
    )
    cluster: str = "%(name)s, %(sector)s cluster in %(city)s. Links: %(links)d"  # a cluster's title
    kind_heading: str = "Kind (line pattern)"
    status_heading: str = "Status (line colour)"
    kinds: Mapping[str, str] = field(default_factory=lambda: dict(KIND_LABELS))
    statuses: Mapping[str, str] = field(default_factory=lambda: {s: s for s in STATUS_ORDER})

    def kind(self, kind: str) -> str:
        return self.kinds.get(kind) or kind.replace("_", " ")

    def status(self, status: str) -> str:
        return self.statuses.get(status, status)


@dataclass(frozen=True)
class Node:
    slug: str
    name: str
    sector: str
    city: str
    x: float
    y: float
    links: int


@dataclass(frozen=True)
class EdgeRow:
    """One link, as a table row (and the text its line's <title> says)."""

    id: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    clusters: tuple[str, ...]  # "Name (City)", in the link's order
    starts_on: str | None
    ends_on: str | None
    public: bool
    description: str
    drawn: bool  # False when a cluster of the link is not among the nodes

    @property
    def text(self) -> str:
        dates = _dates(self.starts_on, self.ends_on)
        return f"{self.kind_label[:1].upper()}{self.kind_label[1:]} · {self.status_label}{dates}: {' – '.join(self.clusters)}"


@dataclass(frozen=True)
class NetworkPicture:
    svg: str
    nodes: list[Node]
    edges: list[EdgeRow]
    cities: list[str]
    by_status: dict[str, int]
    by_kind: dict[str, int]
    words: Words  # what it was worded in: the table beside it says the same


def _checked(words: Words) -> Words:
    """`words`, or the English ones where a translated pattern does not take the picture's
    parameters (a catalogue's typo must not take the page down with it)."""
    english = Words()
    samples = {
        "summary": {"clusters": 1, "cities": 1, "links": 1, "statuses": ""},
        "cluster": {"name": "n", "sector": "s", "city": "c", "links": 1},
    }
    fixed = {}
    for name, values in samples.items():
        try:
            getattr(words, name) % values
        except (KeyError, TypeError, ValueError):
            fixed[name] = getattr(english, name)
    return replace(words, **fixed) if fixed else words


def _dates(starts_on: str | None, ends_on: str | None) -> str:
    """The dates without words to translate: " · 2009-06-01 – 2010-05-31", " · 2009-06-01 –",
    " · – 2010-05-31", or nothing."""
    if not (starts_on or ends_on):
        return ""
    return " · " + " ".join(part for part in (starts_on, "–", ends_on) if part)


def _city_name(slug: str) -> str:
    return slug.replace("-", " ").title()


def layout(nodes: Sequence[Mapping[str, Any]], edges: Sequence[Mapping[str, Any]], size: float) -> list[Node]:
    """Clusters on a circle, grouped by city (a one-slot gap between cities), first city at the top."""
    ordered = sorted(nodes, key=lambda n: (n["city"], n["name"].casefold(), n["slug"]))
    cities = list(dict.fromkeys(n["city"] for n in ordered))
    slots = len(ordered) + (len(cities) if len(cities) > 1 else 0)
    links = Counter(slug for e in edges for slug in dict.fromkeys(e["clusters"]))
    centre, radius = size / 2, size * 0.3
    placed, slot, previous_city = [], 0.0, None
    for n in ordered:
        if previous_city is not None and n["city"] != previous_city:
            slot += 1  # the gap that groups a city's clusters
        angle = -math.pi / 2 + 2 * math.pi * slot / max(slots, 1)
        placed.append(
            Node(
                slug=n["slug"],
                name=n["name"],
                sector=n["sector"],
                city=n["city"],
                x=round(centre + radius * math.cos(angle), 1),
                y=round(centre + radius * math.sin(angle), 1),
                links=links[n["slug"]],
            )
        )
        slot, previous_city = slot + 1, n["city"]
    return placed


def _edge_rows(edges: Sequence[Mapping[str, Any]], by_slug: Mapping[str, Node], words: Words) -> list[EdgeRow]:
    rows = []
    for e in edges:
        names = tuple(
            f"{by_slug[s].name} ({_city_name(by_slug[s].city)})" if s in by_slug else s for s in dict.fromkeys(e["clusters"])
        )
        rows.append(
            EdgeRow(
                id=str(e["id"]),
                kind=e["kind"],
                kind_label=words.kind(e["kind"]),
                status=e["status"],
                status_label=words.status(e["status"]),
                clusters=names,
                starts_on=e.get("starts_on"),
                ends_on=e.get("ends_on"),
                public=bool(e.get("public", True)),
                description=e.get("description", ""),
                drawn=all(s in by_slug for s in e["clusters"]),
            )
        )
    return rows


def render(
    network: Mapping[str, Any], *, words: Words | None = None, size: int = 760, id_prefix: str = "network"
) -> NetworkPicture:
    """The picture of `network` (the JSON of `GET /network`) and its rows for the table beside it,
    worded in `words` (English by default)."""
    words = _checked(words or Words())
    edges_in: Sequence[Mapping[str, Any]] = network.get("edges", [])
    nodes = layout(network.get("nodes", []), edges_in, size)
    by_slug = {n.slug: n for n in nodes}
    rows = _edge_rows(edges_in, by_slug, words)
    cities = list(dict.fromkeys(n.city for n in nodes))
    by_status = {s: c for s in STATUS_ORDER if (c := sum(r.status == s for r in rows))}
    by_kind = dict(Counter(r.kind for r in rows))
    svg = _svg(nodes, rows, edges_in, cities, by_status, words, size, id_prefix)
    return NetworkPicture(svg=svg, nodes=nodes, edges=rows, cities=cities, by_status=by_status, by_kind=by_kind, words=words)


def _svg(
    nodes: Sequence[Node],
    rows: Sequence[EdgeRow],
    edges_in: Sequence[Mapping[str, Any]],
    cities: Sequence[str],
    by_status: Mapping[str, int],
    words: Words,
    size: int,
    prefix: str,
) -> str:
    by_slug = {n.slug: n for n in nodes}
    statuses = ", ".join(f"{words.status(status)}: {n}" for status, n in by_status.items())
    counts = {"clusters": len(nodes), "cities": len(cities), "links": len(rows), "statuses": f" ({statuses})" if statuses else ""}
    height, pad = size + 140, 150  # room for the legend under the circle, and for labels on its sides
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{-pad} 0 {size + 2 * pad} {height}" width="100%" role="img" '
        f'class="network" aria-labelledby="{prefix}-title {prefix}-desc">',
        f'<title id="{prefix}-title">{escape(words.title)}</title>',
        f'<desc id="{prefix}-desc">{escape(words.summary % counts)}</desc>',
        '<g class="edges">',
    ]
    for row, edge in zip(rows, edges_in, strict=True):
        if not row.drawn:
            continue
        colour, dashes = STATUS_COLOURS.get(row.status, "#000000"), KIND_DASHES.get(row.kind, "5 5")
        width = 2 if row.status in ("ended", "cancelled") else 3.5
        out.append(
            f'<g class="edge" data-link-id="{escape(row.id)}" data-kind="{escape(row.kind)}" '
            f'data-status="{escape(row.status)}" stroke="{colour}" stroke-width="{width}" fill="none"'
            + (f' stroke-dasharray="{dashes}"' if dashes else "")
            + f"><title>{escape(row.text)}</title>"
        )
        for a, b in combinations(dict.fromkeys(edge["clusters"]), 2):
            one, other = by_slug[a], by_slug[b]
            out.append(f'<line x1="{one.x}" y1="{one.y}" x2="{other.x}" y2="{other.y}"/>')
        out.append("</g>")
    out.append("</g>")
    out.append('<g class="cities" font-family="sans-serif" font-size="18" font-weight="bold" fill="#111111">')
    centre = size / 2
    for city in cities:
        members = [n for n in nodes if n.city == city]
        mx, my = sum(n.x for n in members) / len(members), sum(n.y for n in members) / len(members)
        angle = math.atan2(my - centre, mx - centre)
        lx, ly = centre + size * 0.41 * math.cos(angle), centre + size * 0.41 * math.sin(angle)
        anchor = "middle" if abs(math.cos(angle)) < 0.3 else "start" if math.cos(angle) > 0 else "end"
        out.append(
            f'<text class="city" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" dominant-baseline="middle">'
            f"{escape(_city_name(city))}</text>"
        )
    out.append("</g>")
    out.append('<g class="nodes" font-family="sans-serif" font-size="14" fill="#111111">')
    for n in nodes:
        angle = math.atan2(n.y - centre, n.x - centre)
        tx, ty = n.x + 12 * math.cos(angle), n.y + 12 * math.sin(angle)
        anchor = "start" if math.cos(angle) >= 0 else "end"
        said = words.cluster % {"name": n.name, "sector": n.sector, "city": _city_name(n.city), "links": n.links}
        out.append(
            f'<g class="node" data-slug="{escape(n.slug)}" data-city="{escape(n.city)}">'
            f"<title>{escape(said)}</title>"
            f'<circle cx="{n.x}" cy="{n.y}" r="7" fill="#ffffff" stroke="#111111" stroke-width="2"/>'
            f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" dominant-baseline="middle">{escape(n.name)}</text></g>'
        )
    out.append("</g>")
    out.extend(_legend(size, prefix, words))
    out.append("</svg>")
    return "".join(out)


def _legend(size: int, prefix: str, words: Words) -> list[str]:
    """Kinds as dash patterns and statuses as colours, each with its word."""
    top = size + 10
    out = [f'<g class="legend" font-family="sans-serif" font-size="15" fill="#111111" id="{prefix}-legend">']
    out.append(f'<text x="10" y="{top + 12}" font-weight="bold">{escape(words.kind_heading)}</text>')
    for i, (kind, dashes) in enumerate(KIND_DASHES.items()):
        y = top + 30 + 19 * i
        dash = f' stroke-dasharray="{dashes}"' if dashes else ""
        out.append(f'<line x1="10" y1="{y}" x2="50" y2="{y}" stroke="#111111" stroke-width="3"{dash}/>')
        out.append(f'<text x="58" y="{y + 4}">{escape(words.kind(kind))}</text>')
    x = size / 2
    out.append(f'<text x="{x}" y="{top + 12}" font-weight="bold">{escape(words.status_heading)}</text>')
    for i, (status, colour) in enumerate(STATUS_COLOURS.items()):
        y = top + 30 + 19 * i
        out.append(f'<line x1="{x}" y1="{y}" x2="{x + 40}" y2="{y}" stroke="{colour}" stroke-width="4"/>')
        out.append(f'<text x="{x + 48}" y="{y + 4}">{escape(words.status(status))}</text>')
    out.append("</g>")
    return out
