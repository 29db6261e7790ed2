"""The network picture (services/portal/network.py): layout, SVG and table rows, without services."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

from services.portal.network import KIND_DASHES, STATUS_COLOURS, Words, render
from services.recommendations.demo_data import CLUSTERS, LINKS

SVG = "{http://www.w3.org/2000/svg}"


def demo_network() -> dict[str, Any]:
    """What GET /network answers for the demo data."""
    return {
        "nodes": [{"slug": s, "name": n, "sector": sector, "city": c} for s, n, sector, c in CLUSTERS],
        "edges": [
            {
                "id": f"00000000-0000-0000-0000-{i:012d}",
                "clusters": link["clusters"],
                "kind": link["kind"],
                "status": link["status"],
                "starts_on": link["starts_on"].isoformat() if link["starts_on"] else None,
                "ends_on": link["ends_on"].isoformat() if link["ends_on"] else None,
                "public": link["public"],
                "description": link["description"],
            }
            for i, link in enumerate(LINKS)
        ],
    }


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # also proves the SVG is well-formed XML


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def test_one_node_per_cluster_and_one_edge_per_link() -> None:
    network = demo_network()
    picture = render(network)
    root = parsed(picture.svg)
    assert len(groups(root, "node")) == len(network["nodes"]) == len(picture.nodes)
    assert len(groups(root, "edge")) == len(network["edges"]) == len(picture.edges)
    assert {g.get("data-link-id") for g in groups(root, "edge")} == {e["id"] for e in network["edges"]}
    assert len(picture.cities) == 10 and {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "city"} >= {
        "Lyon",
        "Manchester",
        "Leipzig",
    }


def test_it_has_an_accessible_name_and_description() -> None:
    root = parsed(render(demo_network()).svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "network-title network-desc"
    assert root.find(f"{SVG}title").get("id") == "network-title"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.get("id") == "network-desc"
    assert desc.text == (
        "Clusters: 10. Partner cities: 10. Links: 5 (proposed: 2, established: 1, active: 1, ended: 1). "
        "The table beside it lists the same links."
    )


def test_kind_and_status_are_told_by_line_and_by_words() -> None:
    picture = render(demo_network())
    root = parsed(picture.svg)
    for edge, row in zip(groups(root, "edge"), picture.edges, strict=True):
        assert edge.get("stroke") == STATUS_COLOURS[row.status]
        assert edge.get("stroke-dasharray") == (KIND_DASHES[row.kind] or None)
        title = edge.find(f"{SVG}title")
        assert title is not None and title.text == row.text
        assert row.kind_label.capitalize() in row.text and row.status_label in row.text
    staff = next(r for r in picture.edges if r.kind == "staff_exchange")
    assert staff.text == (
        "Staff exchange · ended · 2010-04-12 – 2010-04-23: Lyon cleantech cluster (Lyon) – Eindhoven high-tech systems cluster "
        "(Eindhoven)"
    )
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
    words = {t.text for t in legend.iter(f"{SVG}text")}
    assert set(STATUS_COLOURS) <= words and {"joint project", "staff exchange", "study visit"} <= words
    assert picture.by_status == {"proposed": 2, "established": 1, "active": 1, "ended": 1}
    assert picture.by_kind == {"joint_project": 1, "study_visit": 2, "staff_exchange": 1, "cooperation_agreement": 1}


def test_a_city_s_clusters_sit_together_on_one_circle() -> None:
    network = demo_network()
    network["nodes"].append({"slug": "leipzig-energy", "name": "Energy Leipzig", "sector": "energy", "city": "leipzig"})
    picture = render(network, size=600)
    centre = 300
    radii = {round(math.hypot(n.x - centre, n.y - centre)) for n in picture.nodes}
    assert len(radii) == 1, "every cluster on the same circle"
    order = [n.city for n in picture.nodes]
    assert order == sorted(order), "grouped by city, in order"
    leipzig = [n for n in picture.nodes if n.city == "leipzig"]
    other = [n for n in picture.nodes if n.city != "leipzig"]
    gap = min(math.dist((a.x, a.y), (b.x, b.y)) for a in leipzig for b in other)
    assert math.dist((leipzig[0].x, leipzig[0].y), (leipzig[1].x, leipzig[1].y)) < gap, "a city's clusters are closest"
    assert len({(n.x, n.y) for n in picture.nodes}) == len(picture.nodes)
    assert next(n for n in picture.nodes if n.slug == "mediacityuk").links == 1


def test_a_link_of_three_clusters_joins_each_pair() -> None:
    picture = render(demo_network())
    root = parsed(picture.svg)
    three = next(g for g in groups(root, "edge") if g.get("data-kind") == "cooperation_agreement")
    assert len(three.findall(f"{SVG}line")) == 3


def test_text_is_escaped_and_unknown_clusters_are_listed_not_drawn() -> None:
    network = {
        "nodes": [
            {"slug": "a", "name": "<script>alert(1)</script>", "sector": "x & y", "city": "lyon"},
            {"slug": "b", "name": "B", "sector": "s", "city": "leipzig"},
        ],
        "edges": [
            {"id": "1", "clusters": ["a", "b"], "kind": "joint_project", "status": "active", "description": '"quoted"'},
            {"id": "2", "clusters": ["a", "gone"], "kind": "other", "status": "proposed", "description": "d"},
        ],
    }
    picture = render(network)
    assert "<script>" not in picture.svg and "&lt;script&gt;" in picture.svg
    root = parsed(picture.svg)
    assert [g.get("data-link-id") for g in groups(root, "edge")] == ["1"]
    assert [(r.id, r.drawn) for r in picture.edges] == [("1", True), ("2", False)]
    assert picture.edges[1].clusters == ("<script>alert(1)</script> (Lyon)", "gone")


def test_an_empty_network_is_still_a_valid_picture() -> None:
    picture = render({"nodes": [], "edges": []})
    root = parsed(picture.svg)
    assert groups(root, "node") == [] and groups(root, "edge") == []
    assert root.find(f"{SVG}desc").text.startswith("Clusters: 0. Partner cities: 0. Links: 0. ")  # type: ignore[union-attr]


def test_every_word_of_the_picture_comes_in_the_readers_language() -> None:
    """The portal hands its catalogue's words (here, French): nothing English is left in the picture."""
    french = Words(
        title="Liens entre les clusters des villes partenaires de CLUSNET",
        summary="Clusters : %(clusters)d. Villes partenaires : %(cities)d. Liens : %(links)d%(statuses)s. Le tableau les liste.",
        cluster="%(name)s, cluster %(sector)s à %(city)s. Liens : %(links)d",
        kind_heading="Nature (motif du trait)",
        status_heading="État (couleur du trait)",
        kinds={
            "joint_project": "projet commun",
            "staff_exchange": "échange de personnel",
            "study_visit": "visite d'étude",
            "cooperation_agreement": "accord de coopération",
            "other": "autre lien",
        },
        statuses={"proposed": "proposé", "established": "établi", "active": "actif", "ended": "terminé", "cancelled": "annulé"},
    )
    picture = render(demo_network(), words=french)
    root = parsed(picture.svg)
    said = [t.text or "" for t in root.iter() if t.tag in (f"{SVG}title", f"{SVG}desc", f"{SVG}text")]
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
    assert {"Nature (motif du trait)", "État (couleur du trait)", "projet commun", "terminé"} <= {
        t.text for t in legend.iter(f"{SVG}text")
    }
    assert root.find(f"{SVG}desc").text.startswith("Clusters : 10. Villes partenaires : 10. Liens : 5 (proposé: 2")  # type: ignore[union-attr]
    english = ("link", "cluster in", "Kind", "Status", "proposed", "ended", "joint project", "staff exchange", " to ")
    assert not [text for text in said if any(word in text for word in english)]


def test_a_translated_pattern_that_does_not_fit_falls_back_to_english() -> None:
    broken = Words(summary="Cluster: %(clusterz)d", cluster="%(name)s %(oops)s")  # a catalogue's typos
    picture = render(demo_network(), words=broken)
    desc = parsed(picture.svg).find(f"{SVG}desc")
    assert desc is not None and (desc.text or "").startswith("Clusters: 10. Partner cities: 10.")
