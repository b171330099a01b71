"""Which polled updates may be confirmed to Telegram: every one below the oldest still being handled.

getUpdates' offset confirms all updates below it, and Telegram forgets them. Confirming an update as soon as it
arrives lost it when the process died while handling it; confirming only what is handled means an update under
way at a crash comes again after the restart (at least once, as a webhook's unanswered update does).
"""

from __future__ import annotations


class UpdateOffsets:
    """The updates under way and handled, and the offset that confirms the handled ones."""

    __slots__ = ("_finished", "_next", "_running")

    def __init__(self) -> None:
        self._next: int | None = None
        self._running: set[int] = set()
        # Handled, but above an update still under way: Telegram sends them again until the offset passes them.
        self._finished: set[int] = set()

    def start(self, update_id: int) -> bool:
        """Take an update to handle; False when it is one already under way or handled (sent again)."""
        offset = self.offset
        # Below the offset: handled (Telegram sends in order, so nothing below it is new).
        if update_id in self._running or update_id in self._finished or (offset is not None and update_id < offset):
            return False
        self._running.add(update_id)
        self._next = max(self._next or 0, update_id + 1)
        return True

    def finish(self, update_id: int) -> None:
        """The update is handled (or given up): it may be confirmed once nothing older is under way."""
        self._running.discard(update_id)
        self._finished.add(update_id)
        low = self.offset
        if low is not None:
            self._finished = {u for u in self._finished if u >= low}

    @property
    def offset(self) -> int | None:
        """What getUpdates should send: the oldest update under way, else one past the newest (None before any)."""
        return min(self._running) if self._running else self._next

    @property
    def running(self) -> int:
        """How many updates are under way."""
        return len(self._running)
