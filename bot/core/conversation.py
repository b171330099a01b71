"""A resident's messages about reports they sent: replies to the bot's messages, the "write about #N" button, and
the question whether a text written outside a report is about one of their open reports.

The messages reach the officials as posts that reply to the report's card (bot/core/casework.py).
"""

from __future__ import annotations

from typing import Protocol

from bot.core import actions
from bot.core.casework import Casework
from bot.core.config import Clock
from bot.core.models import Button, Buttons, Report, ResidentProfile
from bot.core.replied import Replied, report_of
from bot.core.replies import Reply
from bot.text.i18n import Gettext
from bot.text.labels import category_name
from bot.text.rich import fill
from storage.base import CardIndex, CategoryStore, ReportStore

OPEN_LISTED = 5
LOOKED_AT = 20


class Records(CardIndex, CategoryStore, ReportStore, Protocol):
    """What the conversation reads from storage."""


class Conversation:
    """What a resident's message about an earlier report is, and where it goes."""

    def __init__(self, storage: Records, casework: Casework, clock: Clock) -> None:
        self._storage = storage
        self._casework = casework
        self._clock = clock

    async def own_report(self, profile: ResidentProfile, report_id: int) -> Report | None:
        """The resident's report with this number (None for anybody else's: button data is never trusted)."""
        report = await self._storage.get_report(report_id)
        return report if report is not None and report.resident == profile.ref else None

    async def report_replied(self, profile: ResidentProfile, replied: Replied) -> Report | None:
        """The resident's report that the bot's message they reply to is about, if it is one."""
        if not replied.from_bot:
            return None
        report_id = await report_of(self._storage, profile.ref.chat, replied, self._clock)
        return await self.own_report(profile, report_id) if report_id is not None else None

    async def open_reports(self, profile: ResidentProfile) -> list[Report]:
        """The resident's open reports, newest first."""
        reports = await self._storage.list_reports(profile.ref, LOOKED_AT)
        return [r for r in reports if r.status.open][:OPEN_LISTED]

    async def add(
        self, profile: ResidentProfile, report_id: int, text: str, photos: tuple[str, ...], _: Gettext
    ) -> Reply:
        """The resident's text and photos go to the officials as an addition to their report."""
        return await self._casework.follow_up(report_id, profile, text, photos, _)

    async def verdict(self, profile: ResidentProfile, report_id: int, fixed: bool, _: Gettext) -> Reply:
        """The resident's "fixed" / "not fixed" on their resolved report."""
        return await self._casework.verdict(report_id, profile, fixed, _)

    async def rate(self, profile: ResidentProfile, report_id: int, rating: int, _: Gettext) -> Reply:
        """The resident's rating of the answer to their report."""
        return await self._casework.rate(report_id, profile, rating, _)

    async def question(self, reports: list[Report], _: Gettext) -> Reply:
        """Is this about an open report (one button each) or a new one?"""
        if len(reports) == 1:
            text = fill(_("Is this about your report #{number}, or is it a new report?"), number=reports[0].id)
            label = fill(_("About #{number}"), number=reports[0].id).plain
            rows: Buttons = ((Button(label, actions.about(reports[0].id)),),)
        else:
            text = fill(_("Is this about one of your open reports, or is it a new report?"))
            categories = {c.id: c for c in await self._storage.list_categories(include_hidden=True)}
            rows = tuple(
                (Button(f"#{r.id} · {category_name(categories.get(r.category_id), _)}", actions.about(r.id)),)
                for r in reports
            )
        return Reply(text, (*rows, (Button(_("New report"), actions.FRESH),)))

    def prompt(self, report: Report, _: Gettext) -> Reply:
        """Ask for the message about the report (its next text or photos go to the officials)."""
        return Reply(
            fill(
                _("Write your message about report #{number}: text or photos. It goes to the officials."),
                number=report.id,
            ),
            ((Button(_("Cancel"), actions.CANCEL),),),
        )
