"""The pipeline delay's rules (shared/platform/pipeline.py): when an offset was appended, whether
a group counts as running, and how late it is."""

from __future__ import annotations

from aiokafka import TopicPartition

from shared.platform.pipeline import HISTORY_S, STALLED_AFTER_S, EndHistory, GroupProgress, slowest

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


def history(*samples: tuple[float, int]) -> EndHistory:
    h = EndHistory()
    for at, end in samples:
        h.record(at, end)
    return h


def test_an_offset_was_appended_by_the_first_moment_the_end_passed_it() -> None:
    h = history((10.0, 5), (10.25, 5), (10.5, 8), (10.75, 12))
    assert h.appended_by(4) == 10.0
    assert h.appended_by(5) == 10.5  # offset 5 is the sixth event: first seen when the end was 8
    assert h.appended_by(11) == 10.75
    assert h.appended_by(12) is None  # not appended yet: nothing to wait for


def test_the_history_forgets_what_is_older_than_its_window_but_keeps_a_floor() -> None:
    h = history((0.0, 1), (1.0, 2), (HISTORY_S + 5, 3))
    assert [end for _, end in h.samples] == [2, 3]
    assert h.appended_by(0) == 1.0  # older than the history: as old as the history knows


def test_an_unmoved_end_adds_no_sample() -> None:
    assert len(history((0.0, 4), (0.25, 4), (0.5, 4)).samples) == 1


def test_a_group_counts_only_after_its_offsets_are_seen_moving() -> None:
    ends = {P0: history((0.0, 10))}
    group = GroupProgress()
    group.update(1.0, {P0: 2})
    assert group.delay_s(1.0, ends) is None  # first read: a group left behind looks just like this
    group.update(1.25, {P0: 3})
    assert group.delay_s(1.25, ends) == 1.25  # running; its oldest unapplied event was there at 0.0


def test_a_group_whose_offsets_stop_moving_stops_counting() -> None:
    ends = {P0: history((0.0, 10))}
    group = GroupProgress()
    group.update(1.0, {P0: 2})
    group.update(2.0, {P0: 3})
    group.update(2.0 + STALLED_AFTER_S, {P0: 3})
    assert group.delay_s(2.0 + STALLED_AFTER_S, ends) is not None
    assert group.delay_s(2.1 + STALLED_AFTER_S, ends) is None  # crashed or stuck: an outage, not overload


def test_a_running_group_is_as_late_as_its_latest_partition_and_zero_when_caught_up() -> None:
    ends = {P0: history((0.0, 10), (3.0, 20)), P1: history((0.0, 4))}
    group = GroupProgress()
    group.update(3.0, {P0: 9, P1: 4})
    group.update(3.5, {P0: 12, P1: 4})
    assert group.delay_s(3.5, ends) == 0.5  # P0's offset 12 appeared by 3.0; P1 is caught up
    group.update(4.0, {P0: 20, P1: 4})
    assert group.delay_s(4.0, ends) == 0.0


def test_the_pipeline_is_as_late_as_its_slowest_running_group() -> None:
    assert slowest([0.2, None, 1.5, 0.0]) == 1.5
    assert slowest([None, None]) == 0.0
    assert slowest([]) == 0.0
