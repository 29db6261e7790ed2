"""The consumer's room (shared/platform/consumer.py `IntakeRoom`): one answer is spent over several
polls, never past what it allowed, and asked again once spent, when it allowed nothing, or once old."""

from __future__ import annotations

import pytest

from shared.platform import consumer
from shared.platform.consumer import IntakeRoom


class Dispatcher:
    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def room(self) -> int:
        self.asked += 1
        return self.answers.pop(0)


async def test_an_answer_is_spent_over_polls_then_asked_again() -> None:
    dispatcher = Dispatcher(5, 3)
    room = IntakeRoom(dispatcher.room)
    assert await room.left() == 5
    room.spend(2)
    assert await room.left() == 3 and dispatcher.asked == 1
    room.spend(3)
    assert await room.left() == 3 and dispatcher.asked == 2  # spent: asked again


async def test_no_room_is_asked_again_before_every_poll() -> None:
    dispatcher = Dispatcher(0, 0, 4)
    room = IntakeRoom(dispatcher.room)
    assert [await room.left(), await room.left(), await room.left()] == [0, 0, 4]


async def test_an_old_answer_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "ROOM_FRESH_S", -1.0)  # every answer is old at once
    dispatcher = Dispatcher(50, 1)
    room = IntakeRoom(dispatcher.room)
    assert await room.left() == 50
    room.spend(1)
    assert await room.left() == 1  # 49 were left, but the answer is old: the dispatcher may be behind now
