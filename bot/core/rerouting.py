"""What happens to a message a messenger refused for good, so nothing waits forever and nothing is lost.

* A resident's chat refuses (they blocked the bot): the report records it and its staff chat is told.
* A card to edit is gone: the report gets a fresh card in that chat.
* A staff chat moved (a group upgraded to a supergroup): everything of it follows to the new id.
* A department chat refuses the bot (removed, chat gone): its categories go to the default staff chat, and so do
  its reports, each with a fresh card that names the broken route; the administrators are told once.
* The default staff chat refuses: a configuration error to fix, never a lost report; the messages wait and the
  administrators are told.

The delivery worker asks here (`refused`), and before each message to a staff chat whether it should go
elsewhere now (`redirect`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.config import Clock, CoreConfig
from bot.core.lifecycle import SYSTEM, Actor, Change, change
from bot.core.models import ChatRef, EventKind, Messenger
from bot.core.outbox import PRIORITY_STAFF, OutboxMessage, Refusal, Role, Scope
from bot.core.posting import Posting
from bot.core.replies import Outgoing
from bot.core.routing import StaffRouting
from bot.text.labels import category_name
from bot.text.rich import Rich, as_rich, bold, fill, join
from storage.base import BrokenChat, Storage

log = logging.getLogger(__name__)

DEFAULT_CHAT_RETRY_SECONDS = 300.0


@dataclass
class Verdict:
    """What the worker does with a refused message: keep it for later, or settle it with these records."""

    retry_in: float | None = None
    # Settled as failed, with these changes recorded and notices queued.
    changes: list[Change] = field(default_factory=list)
    notices: list[OutboxMessage] = field(default_factory=list)
    # Instead of failing, it is replaced by these (a copy for the chat it moved to, a fresh card).
    replace: list[OutboxMessage] | None = None


class Rerouting:
    """The core's answer to refusals, for the delivery worker."""

    def __init__(
        self, storage: Storage, posting: Posting, routing: StaffRouting, config: CoreConfig, clock: Clock
    ) -> None:
        self._storage = storage
        self._posting = posting
        self._routing = routing
        self._config = config
        self._clock = clock
        self._told_default: set[str] = set()

    async def redirect(self, message: OutboxMessage) -> list[OutboxMessage] | None:
        """For a message to a staff chat that moved or broke: what goes instead (possibly nothing); else None."""
        if not message.to_group:
            return None
        await self._routing.refresh()
        broken = self._routing.broken(message.chat)
        if broken is None:
            return None
        if broken.moved_to is not None:
            moved = self._routing.follow(message.chat)
            return [dataclasses.replace(message, chat_id=moved.chat_id, id=None, attempts=0)]
        default = self._routing.default_chat
        if message.role is Role.CARD:
            report = await self._storage.get_report(message.report_id) if message.report_id is not None else None
            if report is not None and report.staff_chat == message.chat and message.chat != default:
                # Filed for this chat after it broke (by a route read a moment before): not lost, the default has it.
                category = await self._storage.get_category(report.category_id)
                note = self._note(message.chat, as_rich(category_name(category, self._posting.staff_)), broken.reason)
                step = change(
                    report,
                    EventKind.REROUTED,
                    Actor(SYSTEM),
                    self._clock(),
                    text=broken.reason[:500],
                    staff_chat=default,
                )
                await self._storage.record([step], await self._posting.new_card(step.after, default, note))
            return []  # the report got a fresh card in the default staff chat when the route broke
        if message.role is Role.CARD_MEDIA:
            return []  # the fresh card carries its photos
        if message.chat == default:
            return None
        return [dataclasses.replace(message, messenger=default.messenger, chat_id=default.chat_id, id=None, attempts=0)]

    async def refused(self, message: OutboxMessage, refusal: Refusal) -> Verdict:
        """What becomes of a message the messenger refused for good."""
        if message.to_group:
            if refusal.moved_to is not None:
                return await self._moved(message, refusal)
            if refusal.scope is Scope.CARD:
                return await self._card_gone(message)
            if refusal.scope is Scope.CHAT:
                return await self._chat_broke(message, refusal)
            log.warning("outbox %s refused by a staff chat: %s", message.id, refusal.reason)
            return Verdict()
        return await self._resident_refused(message, refusal)

    async def _resident_refused(self, message: OutboxMessage, refusal: Refusal) -> Verdict:
        if message.report_id is None:
            return Verdict()
        report = await self._storage.get_report(message.report_id)
        if report is None:
            return Verdict()
        now = self._clock()
        step = change(report, EventKind.DELIVERY_FAILED, Actor(SYSTEM), now, text=refusal.reason[:500])
        _ = self._posting.staff_
        text = fill(
            _("Could not deliver a message about report #{number} to the resident: {reason}"),
            number=report.id,
            reason=refusal.reason,
        )
        notices = self._posting.to_staff(self._routing.chat_of(report), text, report.id)
        return Verdict(changes=[step], notices=notices)

    async def _card_gone(self, message: OutboxMessage) -> Verdict:
        if message.report_id is None or (report := await self._storage.get_report(message.report_id)) is None:
            return Verdict()
        return Verdict(replace=await self._posting.new_card(report, message.chat))

    async def _moved(self, message: OutboxMessage, refusal: Refusal) -> Verdict:
        assert refusal.moved_to is not None
        new = ChatRef(message.messenger, refusal.moved_to)
        moved = BrokenChat(message.chat, refusal.reason, self._clock(), moved_to=new)
        if await self._storage.move_chat(moved):
            log.warning("staff chat %s moved to %s; following it", message.chat_id, new.chat_id)
        await self._routing.refresh(force=True)
        return Verdict(replace=[dataclasses.replace(message, chat_id=new.chat_id, id=None, attempts=0)])

    async def _chat_broke(self, message: OutboxMessage, refusal: Refusal) -> Verdict:
        chat, default = message.chat, self._routing.default_chat
        if chat == default:
            # The staff chat is ours: a refusal there is a configuration error to fix, never a lost report.
            log.error("the default staff chat refuses messages (%s); check STAFF_CHAT_ID and the bot", refusal.reason)
            notices = []
            if refusal.reason not in self._told_default:
                self._told_default.add(refusal.reason)
                _ = self._posting.staff_
                notices = self._to_admins(
                    fill(
                        _(
                            "The staff chat {chat} refuses the bot: {reason}."
                            " Reports wait until it takes messages again."
                        ),
                        chat=chat.chat_id,
                        reason=refusal.reason,
                    )
                )
                await self._storage.enqueue(notices)
            return Verdict(retry_in=DEFAULT_CHAT_RETRY_SECONDS)
        await self._break(chat, refusal.reason)
        return Verdict(replace=await self.redirect(message) or [])

    async def _break(self, chat: ChatRef, reason: str) -> None:
        """Once: the chat's categories and reports go to the default staff chat, each report with a fresh card."""
        _ = self._posting.staff_
        now: datetime = self._clock()
        default = self._routing.default_chat
        categories = await self._storage.list_categories(include_hidden=True)
        routed = [c for c in categories if c.staff_chat_id == chat.chat_id]
        names = join(", ", [category_name(c, _) for c in routed]) if routed else as_rich("—")
        note = self._note(chat, names, reason)
        changes: list[Change] = []
        messages: list[OutboxMessage] = []
        for report in await self._storage.reports_in_chat(chat):
            step = change(report, EventKind.REROUTED, Actor(SYSTEM), now, text=reason[:500], staff_chat=default)
            changes.append(step)
            if report.status.open:
                messages += await self._posting.new_card(step.after, default, note)
        warning = fill(
            _(
                "The department chat {chat} ({categories}) refuses the bot: {reason}. Its open reports' cards are now"
                " in the default staff chat, and its categories go there too. Route them anew with /category_chat."
            ),
            chat=chat.chat_id,
            categories=names,
            reason=reason,
        )
        messages += self._posting.to_staff(default, warning)
        messages += self._to_admins(warning)
        if await self._storage.break_chat(BrokenChat(chat, reason, now), changes, messages):
            log.warning("department chat %s refuses the bot; its reports moved to the default staff chat", chat.chat_id)
        await self._routing.refresh(force=True)

    def _note(self, chat: ChatRef, categories: Rich, reason: str) -> Rich:
        """The line above a fresh card in the default staff chat that names the broken route."""
        _ = self._posting.staff_
        text = _("This report was meant for the department chat {chat} ({categories}), which refuses the bot: {reason}")
        return bold(fill(text, chat=chat.chat_id, categories=categories, reason=reason))

    def _to_admins(self, text: Rich) -> list[OutboxMessage]:
        messages: list[OutboxMessage] = []
        for admin in sorted(self._config.admin_ids):
            chat = ChatRef(Messenger.TELEGRAM, admin)
            messages += self._posting.to_chat(chat, Outgoing(text, priority=PRIORITY_STAFF))
        return messages
