"""The weekly summary: the past week's figures, their chart and key problems, once a week in every staff chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.models import ChatRef, Messenger
from bot.core.outbox import OutboxKind, OutboxMessage
from bot.core.reception import Reception
from bot.text.i18n import Locales
from handlers.telegram.compose import TelegramComposer
from handlers.vk.compose import VkComposer
from storage.photos import PhotoArchive
from storage.sqlite import SqliteStorage
from tests.test_reminders import STAFF, Clock, Desk, NoProbe, config
from tests.test_reminders import file as file_report

# Wednesday 2 December 2026, noon in Moscow; the summary of that week is due Monday 7 December, 09:00.
WEDNESDAY = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
DEPARTMENT = ChatRef(Messenger.TELEGRAM, -1002000)


@asynccontextmanager
async def process(path: Path, clock: Clock) -> AsyncIterator[tuple[Desk, PhotoArchive]]:
    storage = await SqliteStorage.open(path / "bot.sqlite3")
    archive = PhotoArchive(path / "photos")
    try:
        composers = {Messenger.TELEGRAM: TelegramComposer(), Messenger.VK: VkComposer()}
        reception = Reception.build(
            storage, Locales(), config(), composers, NoProbe(), clock=clock, photos=archive, pictures=archive
        )
        yield Desk(storage, reception), archive
    finally:
        await storage.close()


async def queued(desk: Desk) -> list[OutboxMessage]:
    messages = await desk.storage.peek_outbox(1000)
    await desk.storage.forget_outbox([m.id for m in messages if m.id is not None])
    return messages


async def test_the_past_week_goes_once_to_each_staff_chat_with_its_chart(tmp_path: Path) -> None:
    clock = Clock(WEDNESDAY)
    async with process(tmp_path, clock) as (desk, archive):
        await desk.storage.update_category(1, staff_chat_id=DEPARTMENT.chat_id)  # Roads has its department
        for user in (301, 302, 303):
            await file_report(desk, user, "Яма на дороге у школы")
        await queued(desk)
        weekly = desk.reception.weekly
        assert not await weekly.maybe_send()  # a new database waits for the next summary time

        clock.now = DUE - timedelta(minutes=1)
        assert not await weekly.maybe_send()
        clock.now = DUE + timedelta(minutes=1)
        assert await weekly.maybe_send()
        messages = await queued(desk)
        staff = [m for m in messages if m.chat == STAFF]
        text = staff[0].text
        assert "Figures for 30 November – 6 December 2026" in text and "Received: 3" in text, text
        assert "Not taken into work in time: 100% (3 of 3)" in text
        [picture] = [m for m in staff if m.kind is OutboxKind.PHOTO]
        assert "Key problems, 30 November – 6 December 2026" in picture.text and "яма" in picture.text, picture.text
        assert (await archive.get(picture.photos[0]))[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")

        department = [m for m in messages if m.chat == DEPARTMENT]
        assert department and "Received: 0" in department[0].text  # Roads had none; Transport is the default's

        assert not await weekly.maybe_send()
    async with process(tmp_path, clock) as (again, _archive):
        assert not await again.reception.weekly.maybe_send()  # a restart does not send it twice
        assert await queued(again) == []
