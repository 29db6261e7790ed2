"""The relay's rule for continuing a pass past a batch: only over ids without a gap."""

from shared.platform.outbox import _unbroken


def test_ids_that_follow_the_last_published_one_without_a_gap_continue() -> None:
    assert _unbroken(7, [7, 8, 9])


def test_a_gap_inside_the_batch_stops_the_pass() -> None:
    assert not _unbroken(7, [7, 9, 10])


def test_a_gap_before_the_batch_stops_the_pass() -> None:
    assert not _unbroken(7, [8, 9, 10])


def test_a_row_below_the_last_published_one_stops_the_pass() -> None:
    """A late-committed row: the pass after the gap selects it first."""
    assert not _unbroken(7, [4, 7, 8])


def test_a_relay_that_does_not_know_where_the_outbox_stands_stops_after_one_batch() -> None:
    assert not _unbroken(None, [1, 2, 3])
