"""The pipeline delay's rules (shared/platform/pipeline.py): when an offset was appended, which
partitions count as running, how late a group is, and when that is overload."""

from __future__ import annotations

from aiokafka import TopicPartition

from shared.platform.pipeline import (
    HISTORY_S,
    MIN_BACKLOG,
    RATE_WINDOW_S,
    STALLED_AFTER_S,
    EndHistory,
    GroupProgress,
    Lateness,
    PartitionProgress,
    slowest,
)

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
    assert h.end == 12


def test_the_history_forgets_what_is_older_than_its_window_but_keeps_a_floor() -> None:
    h = history((0.0, 1), (1.0, 2), (HISTORY_S + 5, 3))
    assert [end for _, end in h.samples] == [2, 3]
    assert h.appended_by(0) == 1.0  # older than the history: as old as the history knows


def test_an_unmoved_end_adds_no_sample() -> None:
    assert len(history((0.0, 4), (0.25, 4), (0.5, 4)).samples) == 1


def test_a_partition_counts_only_after_its_offset_is_seen_moving() -> None:
    ends = {P0: history((0.0, 10))}
    group = GroupProgress()
    group.update(1.0, {P0: 2})
    assert group.lateness(1.0, ends) == Lateness()  # first read: a group left behind looks just like this
    group.update(1.25, {P0: 3})
    assert group.lateness(1.25, ends) == Lateness(
        delay_s=1.25, events=7, drain_s=1.75, rate=4.0
    )  # oldest there at 0.0; 4 a second


def test_a_partition_whose_offset_stops_moving_stops_counting() -> None:
    """A worker killed mid-batch: its partitions wait for the group to hand them over, while the
    others move on; only the moving ones count."""
    ends = {P0: history((0.0, 10)), P1: history((0.0, 10))}
    group = GroupProgress()
    group.update(1.0, {P0: 2, P1: 2})
    group.update(2.0, {P0: 3, P1: 3})
    assert group.lateness(2.0 + STALLED_AFTER_S, ends) == Lateness(delay_s=3.5, events=7 + 7, drain_s=7.0, rate=2.0)
    ends[P1].record(4.0, 30)
    group.update(5.0, {P0: 3, P1: 25})
    assert group.lateness(5.0, ends) == Lateness(
        delay_s=1.0, events=5, drain_s=5 / (22 / 3), rate=22 / 3
    )  # P0 still since 2.0: out


def test_a_group_is_as_late_as_its_oldest_unapplied_event_and_zero_when_caught_up() -> None:
    ends = {P0: history((0.0, 10), (3.0, 20)), P1: history((0.0, 4))}
    group = GroupProgress()
    group.update(3.0, {P0: 9, P1: 3})
    group.update(3.5, {P0: 12, P1: 4})
    # offset 12 there by 3.0; 8 a second
    assert group.lateness(3.5, ends) == Lateness(delay_s=0.5, events=8, drain_s=1.0, rate=8.0)
    group.update(4.0, {P0: 20, P1: 4})
    assert group.lateness(4.0, ends) == Lateness(delay_s=0.0, events=0, rate=12.0)  # caught up, still applying


def test_overload_is_late_and_far_behind() -> None:
    assert Lateness(delay_s=2.0, events=MIN_BACKLOG).overloaded(0.5)
    assert not Lateness(delay_s=2.0, events=MIN_BACKLOG - 1).overloaded(0.5)  # a slow link, not load
    assert not Lateness(delay_s=0.4, events=10 * MIN_BACKLOG).overloaded(0.5)  # a fast consumer's burst


def test_the_pipeline_is_as_late_as_its_slowest_group() -> None:
    assert slowest([Lateness(0.2, 500), Lateness(1.5, 120), Lateness()]) == Lateness(1.5, 120)
    assert slowest([]) == Lateness()


def test_a_partition_is_as_fast_as_it_has_been_since_it_began_moving_within_the_window() -> None:
    progress = PartitionProgress()
    for at, offset in ((0.0, 0), (0.25, 0), (0.5, 0), (0.75, 50), (1.0, 100)):
        progress.record(at, offset)
    assert progress.rate() == 200.0  # 100 events since 0.5, not 100 over the whole second
    progress.record(1.0 + RATE_WINDOW_S, 100)
    assert progress.rate() == 0.0  # the window holds no move any more
    still = PartitionProgress()
    still.record(0.0, 7)
    assert still.rate() == 0.0


def test_a_group_drains_at_the_sum_of_its_partitions_rates() -> None:
    ends = {P0: history((0.0, 300)), P1: history((0.0, 300))}
    group = GroupProgress()
    group.update(0.0, {P0: 0, P1: 100})
    group.update(0.5, {P0: 50, P1: 150})  # 100 a second each
    late = group.lateness(0.5, ends)
    assert (late.events, late.drain_s) == (250 + 150, 2.0)  # 400 waiting at 200 a second


def test_a_queue_that_takes_too_long_to_drain_is_overload_before_it_has_aged() -> None:
    young_but_long = Lateness(delay_s=0.2, events=MIN_BACKLOG, drain_s=1.5)
    assert young_but_long.overloaded(0.5)
    assert young_but_long.wait_s == 1.5
    assert not Lateness(delay_s=0.2, events=MIN_BACKLOG - 1, drain_s=30.0).overloaded(0.5)  # a slow link, not load
    assert not Lateness(delay_s=0.2, events=10 * MIN_BACKLOG, drain_s=0.1).overloaded(0.5)  # a fast consumer's burst
    assert slowest([Lateness(0.6, 500, 0.1), Lateness(0.2, 150, 1.2)]) == Lateness(0.2, 150, 1.2)
    slow_link, overloaded = Lateness(5.0, 3, 9.0), Lateness(0.2, 300, 0.8)
    assert slowest([slow_link, overloaded]) == overloaded  # the one that is load, not the slowest
    assert slowest([slow_link, Lateness(0.1, 2)]) == slow_link


def test_the_room_is_what_the_group_applies_in_the_delay_less_what_waits() -> None:
    assert Lateness(delay_s=0.1, events=40, rate=1000.0).room(0.5) == 500 - 40
    assert Lateness(delay_s=0.1, events=40, rate=60.0).room(0.5) == MIN_BACKLOG - 40  # never below the floor
    assert Lateness(delay_s=0.4, events=MIN_BACKLOG + 20, rate=100.0).room(0.5) == 0
    assert Lateness(delay_s=0.0, events=0, rate=0.0).room(0.5) is None  # applies nothing: no rate to bound by
