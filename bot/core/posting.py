"""The core's messages as each messenger's outbox messages, in the reader's language.

The core says what to show (rich text, photos, buttons, what a message is to its report); the messenger's
composer decides how many calls that takes and renders its markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core.config import CoreConfig
from bot.core.models import Buttons, ChatRef, Report, ResidentRef
from bot.core.outbox import PRIORITY_RESIDENT, PRIORITY_STAFF, OutboxMessage, Role
from bot.core.replies import Composers, Outgoing
from bot.core.routing import StaffRouting
from bot.text.cards import CardFacts, card_buttons, card_text
from bot.text.i18n import DEFAULT_LANGUAGE, Gettext, Locales
from bot.text.rich import Rich, lines
from bot.text.when import until
from storage.base import CardIndex, CategoryStore, GuardStore, ReportStore, ResidentStore


class Records(CardIndex, CategoryStore, ResidentStore, ReportStore, GuardStore, Protocol):
    """What posting reads from storage."""


class Posting:
    """Shapes what the core owes residents and officials into outbox messages."""

    def __init__(
        self,
        storage: Records,
        composers: Composers,
        locales: Locales,
        config: CoreConfig,
        routing: StaffRouting,
    ) -> None:
        self._storage = storage
        self._composers = composers
        self._locales = locales
        self._config = config
        self._routing = routing
        self.staff_ = locales.get(config.staff_language)

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone (officials read times in it)."""
        return self._config.tz

    def until(self, at: datetime, _: Gettext, now: datetime) -> str:
        """A due time in words, in the language of `_` and the deployment's time zone: "9 декабря, 14:00 (МСК)"."""
        return until(at, self._config.tz, self._locales.language_of(_), now)

    def message_url(self, chat: ChatRef, message_id: int) -> str | None:
        """A link to a message of a staff chat, where its messenger has one."""
        return self._composers[chat.messenger].message_url(chat.chat_id, message_id)

    def to_chat(self, chat: ChatRef, message: Outgoing) -> list[OutboxMessage]:
        """The outbox messages that show `message` in `chat`."""
        return self._composers[chat.messenger].compose(chat.chat_id, message)

    async def language_of(self, resident: ResidentRef) -> Gettext:
        """The resident's language (the default one if they were never seen)."""
        profile = await self._storage.get_resident(resident)
        return self._locales.get(profile.language if profile else DEFAULT_LANGUAGE)

    def resident_message(
        self, report: Report, text: Rich, photos: tuple[str, ...] = (), buttons: Buttons = ()
    ) -> list[OutboxMessage]:
        """A message about `report` to its resident, written already in their language.

        Linked to the report, so the resident's reply to it adds to the report. Nothing for a report whose resident
        erased their data: there is nobody to write to.
        """
        if report.anonymous:
            return []
        message = Outgoing(text, photos, buttons, report_id=report.id, link_to_report=True, priority=PRIORITY_RESIDENT)
        return self.to_chat(report.resident.chat, message)

    async def to_resident(
        self,
        report: Report,
        text: Callable[[Gettext], Rich],
        photos: tuple[str, ...] = (),
        buttons: Callable[[Gettext], Buttons] | None = None,
    ) -> list[OutboxMessage]:
        """`resident_message` in the resident's language (looked up), the text and buttons rendered in it."""
        if report.anonymous:
            return []
        r_ = await self.language_of(report.resident)
        return self.resident_message(report, text(r_), photos, buttons(r_) if buttons else ())

    def to_staff(
        self,
        chat: ChatRef,
        text: Rich,
        report_id: int | None = None,
        photos: tuple[str, ...] = (),
        reply_to_card: bool = False,
    ) -> list[OutboxMessage]:
        """A post in a staff chat; about a report, a reply to it finds the report."""
        message = Outgoing(
            text,
            photos,
            report_id=report_id,
            link_to_report=report_id is not None,
            reply_to_card=reply_to_card,
            priority=PRIORITY_STAFF,
        )
        return self.to_chat(chat, message)

    async def facts(self, report: Report, moved_to: int | None = None, waiting: int | None = None) -> CardFacts:
        """What the report's card shows now (`waiting`: the duplicates' count, when a change is about to alter it)."""
        if waiting is None:
            waiting = len(await self._storage.duplicates_of(report.id)) if report.status.open else 0
        category = await self._storage.get_category(report.category_id)
        moved = await self._storage.get_category(moved_to) if moved_to is not None else None
        record = await self._storage.resident_record(report.resident)
        return CardFacts(report, category, waiting, moved, record.filed, record.rejected, record.banned)

    async def new_card(
        self, report: Report, chat: ChatRef | None = None, note: Rich | None = None
    ) -> list[OutboxMessage]:
        """The report's card with its photos, posted in its staff chat (or `chat`), with a note above it if given."""
        return self.card_messages(await self.facts(report), chat or self._routing.chat_of(report), note)

    def card_messages(self, facts: CardFacts, chat: ChatRef, note: Rich | None = None) -> list[OutboxMessage]:
        """The card of `facts.report` with its photos in `chat`."""
        return self.to_chat(chat, self._card(facts, note))

    async def card_edit(
        self,
        report: Report,
        chat: ChatRef | None = None,
        moved_to: int | None = None,
        waiting: int | None = None,
        note: Rich | None = None,
    ) -> list[OutboxMessage]:
        """The edit that makes the report's card in its staff chat (or `chat`) show the report as it is now."""
        target = chat or self._routing.chat_of(report)
        card = self._card(await self.facts(report, moved_to, waiting), note)
        return [self._composers[target.messenger].edit(target.chat_id, card)]

    async def posted_card_edits(self, reports: Iterable[Report]) -> list[OutboxMessage]:
        """The edits of these reports' cards that were posted already (a card still queued shows them as they are)."""
        outbox: list[OutboxMessage] = []
        for report in reports:
            if await self._storage.card_of(self._routing.chat_of(report), report.id) is not None:
                outbox += await self.card_edit(report)
        return outbox

    def _card(self, facts: CardFacts, note: Rich | None = None) -> Outgoing:
        """A report's card: its text (under `note`, if given), its photos and the buttons that make sense now."""
        _ = self.staff_
        text = card_text(facts, _, self._config.tz)
        return Outgoing(
            lines(note, "", text) if note else text,
            facts.report.photos,
            card_buttons(facts, _),
            report_id=facts.report.id,
            link_to_report=True,
            role=Role.CARD,
            priority=PRIORITY_STAFF,
        )
