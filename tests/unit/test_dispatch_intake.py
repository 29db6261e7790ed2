"""How many events the notifications consumer may take, given the dispatcher's queue
(services/notifications/rules.py `intake_room`)."""

from services.notifications.rules import intake_ahead, intake_room


def test_room_is_what_two_rounds_of_passes_leave() -> None:
    assert intake_room(waiting=0, oldest_wait_s=0.0, ahead=400, late_s=0.5) == 400
    assert intake_room(waiting=150, oldest_wait_s=0.1, ahead=400, late_s=0.5) == 250
    assert intake_room(waiting=400, oldest_wait_s=0.1, ahead=400, late_s=0.5) == 0


def test_no_room_while_the_oldest_first_attempt_is_late_however_few_wait() -> None:
    assert intake_room(waiting=3, oldest_wait_s=0.6, ahead=400, late_s=0.5) == 0
    assert intake_room(waiting=3, oldest_wait_s=0.5, ahead=400, late_s=0.5) == 397


def test_the_queue_allowed_is_what_the_dispatcher_sends_in_the_late_time() -> None:
    assert intake_ahead(sent_per_s=120.0, late_s=0.5, least=50, most=400) == 60
    assert intake_ahead(sent_per_s=0.0, late_s=0.5, least=50, most=400) == 50  # quiet: one batch to start
    assert intake_ahead(sent_per_s=5000.0, late_s=0.5, least=50, most=400) == 400
