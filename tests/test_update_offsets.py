"""Polled updates are confirmed to Telegram only once handled, and one sent again is not handled twice."""

from __future__ import annotations

from handlers.telegram.offsets import UpdateOffsets


def test_the_offset_waits_for_the_oldest_update_under_way() -> None:
    offsets = UpdateOffsets()
    assert offsets.offset is None
    assert [offsets.start(u) for u in (10, 11, 12)] == [True, True, True]
    assert offsets.offset == 10
    offsets.finish(11)
    offsets.finish(12)
    assert offsets.offset == 10  # 10 is still under way: confirming 11 and 12 would confirm it too
    offsets.finish(10)
    assert offsets.offset == 13 and offsets.running == 0


def test_updates_sent_again_are_not_taken_twice() -> None:
    offsets = UpdateOffsets()
    for u in (20, 21, 22):
        offsets.start(u)
    offsets.finish(21)
    # Telegram sends 20..22 again (the offset is still 20), and a new 23.
    assert [offsets.start(u) for u in (20, 21, 22, 23)] == [False, False, False, True]
    offsets.finish(20)
    offsets.finish(22)
    offsets.finish(23)
    assert offsets.offset == 24
    assert offsets.start(22) is False  # below the offset: already handled


def test_an_unfinished_update_keeps_its_place_for_the_next_process() -> None:
    offsets = UpdateOffsets()
    for u in (5, 6):
        offsets.start(u)
    offsets.finish(6)
    assert offsets.offset == 5
