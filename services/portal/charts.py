"""Shaping the services' progress answers into what the dashboard draws: the city x seminar
matrix, the bars by dimension, the line of the share implemented, the export's rows. Pure
functions: every number comes from evaluations (`/progress`, `/progress/cells`,
`/progress/timeline`); here it is only placed on a grid or scaled to pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.contracts.common import Dimension

STATUSES = (
    "implemented",
    "partially_implemented",
    "in_progress",
    "planned",
    "not_started",
    "not_implemented",
    "overtaken_by_events",
)
DIMENSIONS = tuple(Dimension)  # the Cluster Initiative Model's, in its order (the bars)
BAR_WIDTH = 400  # px of a full bar (100 %)
LINE_WIDTH, LINE_HEIGHT, LINE_PAD = 640, 220, 56  # the padding holds the axis labels


@dataclass
class Matrix:
    cities: list[str]
    seminars: list[dict[str, Any]]  # {"id", "host_city", "theme"}
    cells: dict[tuple[str, str], list[dict[str, Any]]]  # (city, seminar id) -> follow-ups


def matrix(cells: list[dict[str, Any]]) -> Matrix:
    """Rows: cities; columns: seminars (by host city); a cell: that city's follow-ups of that seminar."""
    grid: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seminars: dict[str, dict[str, Any]] = {}
    for c in cells:
        seminars.setdefault(
            c["seminar_id"], {"id": c["seminar_id"], "host_city": c["seminar_host_city"], "theme": c["seminar_theme"]}
        )
        grid.setdefault((c["city"], c["seminar_id"]), []).append(c)
    ordered = sorted(seminars.values(), key=lambda s: (s["host_city"], s["theme"]))
    return Matrix(cities=sorted({c["city"] for c in cells}), seminars=ordered, cells=grid)


def bars(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each group (a dimension) as a stacked bar: one segment per status, `x`/`width` in px; in
    the model's order (DIMENSIONS; any other group after them, by key)."""
    result = []
    rank = {d: i for i, d in enumerate(DIMENSIONS)}
    for g in sorted(groups, key=lambda g: (rank.get(g["key"], len(rank)), str(g["key"]))):
        x = 0.0
        segments = []
        for status in STATUSES:
            count = g["by_status"].get(status, 0)
            if count:
                width = BAR_WIDTH * count / g["total"]
                segments.append({"status": status, "count": count, "x": round(x, 1), "width": round(width, 1)})
                x += width
        result.append({**g, "segments": segments})
    return result


def line(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The share implemented month by month as SVG coordinates (y: 0 % at the bottom, 100 % on top)."""
    inner_w, inner_h = LINE_WIDTH - 2 * LINE_PAD, LINE_HEIGHT - 2 * LINE_PAD
    step = inner_w / (len(points) - 1) if len(points) > 1 else 0
    placed = [
        {
            **p,
            "x": round(LINE_PAD + (i * step if len(points) > 1 else inner_w / 2), 1),
            "y": round(LINE_PAD + inner_h * (1 - p["implemented_share"]), 1),
        }
        for i, p in enumerate(points)
    ]
    return {
        "points": placed,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in placed),
        "width": LINE_WIDTH,
        "height": LINE_HEIGHT,
        "top": LINE_PAD,
        "bottom": LINE_HEIGHT - LINE_PAD,
        "middle": LINE_PAD + inner_h / 2,
        "left": LINE_PAD,
        "right": LINE_WIDTH - LINE_PAD,
    }


EXPORT_COLUMNS = (
    "follow_up_id",
    "city",
    "seminar",
    "recommendation",
    "recommendation_text",
    "dimension",
    "response",
    "implementation_status",
    "overdue",
    "as_of",
)


def export_rows(as_of: str, cells: list[dict[str, Any]]) -> list[list[Any]]:
    """The matrix's follow-ups as rows, in the matrix's order, with the recommendation's full text."""
    m = matrix(cells)
    rows = []
    for city in m.cities:
        for seminar in m.seminars:
            for c in m.cells.get((city, seminar["id"]), []):
                rows.append(
                    [
                        c["id"],
                        c["city"],
                        f"{c['seminar_host_city']}: {c['seminar_theme']}",
                        c["recommendation_title"],
                        c.get("recommendation_text") or "",
                        c["dimension"],
                        c["response"],
                        c["implementation_status"],
                        "yes" if c["overdue"] else "no",
                        as_of,
                    ]
                )
    return rows
