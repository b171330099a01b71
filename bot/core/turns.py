"""Turns per chat: what the bot says in one chat goes out in the order of the steps it answers.

A step takes its turn while it still holds the resident's lock, so turns follow the order in which the steps were
handled; its replies then wait for the earlier turns' replies to be sent (each may wait for a send budget).
"""

from __future__ import annotations

import asyncio
import contextlib

# A turn never waits longer than this for an earlier one (a step stuck on a dead connection must not mute a chat).
TURN_PATIENCE_SECONDS = 30.0


class Turn:
    """A place in a chat's line: `wait` until the earlier turns are done, then `done`."""

    __slots__ = ("_done", "_key", "_owner", "_previous")

    def __init__(self, owner: ChatTurns, key: str, previous: asyncio.Future[None] | None) -> None:
        self._owner = owner
        self._key = key
        self._previous = previous
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait(self) -> None:
        """Wait until every earlier turn of the chat is done."""
        if self._previous is not None and not self._previous.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._previous), TURN_PATIENCE_SECONDS)

    def done(self) -> None:
        """This turn's messages are sent (or given up): the next turn may go. Safe to call twice."""
        if not self._done.done():
            self._done.set_result(None)
        self._owner._release(self._key, self._done)


class ChatTurns:
    """The lines of the chats this process talks to; a chat's line disappears when it is empty."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def take(self, key: str) -> Turn:
        """The next turn in the chat `key`."""
        turn = Turn(self, key, self._last.get(key))
        self._last[key] = turn._done
        return turn

    def _release(self, key: str, done: asyncio.Future[None]) -> None:
        if self._last.get(key) is done:
            del self._last[key]

    def __len__(self) -> int:
        return len(self._last)
