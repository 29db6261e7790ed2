"""The portal's pure rules: session expiry, sign-in throttling, and how pages shape answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.portal import rules, views
from services.portal.web import safe_next

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)


def test_session_expiry() -> None:
    expires = NOW + timedelta(hours=1)
    assert rules.session_state(NOW, NOW - timedelta(minutes=29), expires, IDLE) == rules.SessionState.active
    assert rules.session_state(NOW, NOW - timedelta(minutes=30), expires, IDLE) == rules.SessionState.idle
    assert rules.session_state(NOW, NOW, NOW, IDLE) == rules.SessionState.expired  # absolute expiry wins, used or not


def test_touch_at_most_once_a_minute() -> None:
    assert not rules.needs_touch(NOW, NOW - timedelta(seconds=59))
    assert rules.needs_touch(NOW, NOW - timedelta(seconds=60))


def test_throttling_per_account_and_per_address() -> None:
    limits = rules.ThrottleLimits(per_account=5, per_address=20, window=timedelta(minutes=15))
    assert not rules.sign_in_throttled(4, 19, limits)
    assert rules.sign_in_throttled(5, 0, limits)
    assert rules.sign_in_throttled(0, 20, limits)


def test_no_open_redirect_after_sign_in() -> None:
    assert safe_next("/follow-ups/1", "/") == "/follow-ups/1"
    for hostile in ("//evil.example", "https://evil.example", "/\\evil.example", "", None):
        assert safe_next(hostile, "/city") == "/city"


def _followup(
    title: str, due: str | None, overdue: bool = False, due_soon: bool = False, seminar: str = "s1"
) -> dict[str, object]:
    return {"recommendation_title": title, "due_date": due, "overdue": overdue, "due_soon": due_soon, "seminar_id": seminar}


def test_overdue_then_due_soon_first() -> None:
    """By the service's marks (its rules and due-soon window), then by due date."""
    items = [
        _followup("later", "2026-12-01"),  # not marked: e.g. already implemented
        _followup("soon", "2026-12-05", due_soon=True),
        _followup("late", "2026-10-01", overdue=True, seminar="s2"),
        _followup("undated", None),
    ]
    groups = views.group_by_seminar(items, {"s1": {"id": "s1", "theme": "A"}, "s2": {"id": "s2", "theme": "B"}})
    assert [(s["id"], [f["recommendation_title"] for f in fs]) for s, fs in groups] == [
        ("s2", ["late"]),
        ("s1", ["soon", "later", "undated"]),
    ]


def test_a_stale_edit_keeps_this_persons_changes_on_top_of_the_saved_version() -> None:
    was = {"response": "pending", "implementation_status": "not_started", "owner": "", "notes": "old"}
    yours = {"response": "accepted", "implementation_status": "not_started", "owner": "Max", "notes": "old"}
    theirs = {"response": "pending", "implementation_status": "planned", "owner": "Jana", "notes": "theirs"}
    assert views.changed(yours, was) == ["response", "owner"]
    assert views.conflicts(yours, was, theirs) == [("response", "accepted", "pending"), ("owner", "Max", "Jana")]
    # their status and notes are kept; only what this person changed goes on top
    assert views.rebase(yours, was, theirs) == {
        "response": "accepted",
        "implementation_status": "planned",
        "owner": "Max",
        "notes": "theirs",
    }


def test_patch_body_sends_only_this_persons_changes() -> None:
    was = {"response": "accepted", "implementation_status": "planned", "owner": "Jana", "notes": "", "planned_completion": ""}
    form = {**was, "implementation_status": "in_progress", "owner": " Max ", "notes": ""}
    assert views.patch_body(form, " because ", was) == {
        "implementation_status": "in_progress",
        "owner": "Max",
        "comment": "because",
    }
    assert views.patch_body(was, "", was) == {}
    assert views.patch_body({**was, "notes": "x"}, "", {**was, "notes": "y"}) == {"notes": "x"}
    assert views.patch_body({**was, "owner": ""}, "", was) == {"owner": None}  # emptied: cleared


def test_the_public_overview_carries_no_private_field() -> None:
    seminars = [{"id": "s1", "theme": "T", "held_on": "2009-11-26", "host_city": "leipzig"}]
    recs = [{"id": "r1", "seminar_id": "s1", "status": "issued", "title": "R", "text": "X"}]
    followups = [
        {
            "id": "f1",
            "recommendation_id": "r1",
            "city": "leipzig",
            "response": "accepted",
            "implementation_status": "planned",
            "notes": "SECRET NOTE",
            "owner": "SECRET OWNER",
        }
    ]
    evidence = {"f1": [{"title": "open", "public": True}, {"title": "SECRET DOC", "public": False}]}
    overview = views.public_overview(seminars, recs, followups, evidence)
    assert "SECRET" not in repr(overview) and "open" in repr(overview)


def test_a_list_shown_a_page_at_a_time_says_where_each_page_stands() -> None:
    items = [{"n": n} for n in range(1, 24)]  # 23 items, 10 to a page
    first = views.page_of(items, 1, 10)
    assert [i["n"] for i in first.items] == list(range(1, 11))
    assert (first.number, first.pages, first.first, first.last, first.total) == (1, 3, 1, 10, 23)
    last = views.page_of(items, 3, 10)
    assert [i["n"] for i in last.items] == [21, 22, 23] and (last.first, last.last) == (21, 23)
    assert views.page_of(items, 99, 10) == last  # past the end: the last page, not an empty one
    empty = views.page_of([], 1, 10)
    assert (empty.items, empty.pages, empty.first, empty.last, empty.total) == ([], 1, 0, 0, 0)


def test_the_closest_peers_come_first_and_no_more_than_a_page_of_them() -> None:
    def peer(city: str, related: bool = False, tags: tuple[str, ...] = (), evidence: bool = False) -> dict[str, object]:
        return {"city": city, "related": related, "shared_tags": list(tags), "evidence": [{"title": "x"}] if evidence else []}

    peers = [peer("a", tags=("x",)), peer("b", tags=("x",), evidence=True), peer("c", related=True), peer("d", tags=("x", "y"))]
    assert [p["city"] for p in views.closest_peers(peers)] == ["c", "d", "b", "a"]
    many = [peer(f"city{n:03d}", tags=("x",)) for n in range(views.PEERS_SHOWN + 5)]
    assert len(views.closest_peers(many)) == views.PEERS_SHOWN


def test_emails_link_to_the_page_they_are_about() -> None:
    import uuid

    from services.notifications.rules import page_path
    from tests.factories import issued

    event = issued()
    assert page_path(event) == "/"
    followup_id = uuid.uuid4()
    assert page_path(event.model_copy(update={"data": {"followup": {"id": str(followup_id)}}})) == f"/follow-ups/{followup_id}"
