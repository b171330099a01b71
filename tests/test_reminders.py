"""Terms, reminders, the daily summary and the resident's verdict, on a real SQLite file with a clock we move.

The core runs as the bot runs it (Reception over SqliteStorage); what officials and residents would see is read
from the outbox the delivery worker sends from. No sleeping: the clock is ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core import dialog
from bot.core.admin import Probe
from bot.core.config import CoreConfig, TermRules
from bot.core.lifecycle import Actor, change
from bot.core.models import ChatRef, EventKind, Messenger, ResidentProfile, ResidentRef, Status, Term, Verdict
from bot.core.outbox import OutboxKind, OutboxMessage
from bot.core.reception import Reception
from bot.core.replies import Reply
from bot.text.i18n import Locales
from bot.text.rich import Rich
from handlers.telegram.compose import TelegramComposer
from handlers.vk.compose import VkComposer
from storage.sqlite import SqliteStorage

STAFF = ChatRef(Messenger.TELEGRAM, -1001234000111)
MSK = ZoneInfo("Europe/Moscow")
# Monday 7 December 2026, 10:00 in Moscow: a working day, inside working hours.
MONDAY = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
TRANSPORT = 4  # a default category whose photo is optional


class Clock:
    """The time the core reads; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class NoProbe:
    async def probe(self, chat: ChatRef, text: Rich) -> Probe:
        return Probe(ok=True)


@dataclass
class Desk:
    """One process of the bot: its storage and its core."""

    storage: SqliteStorage
    reception: Reception


def config(**terms: object) -> CoreConfig:
    rules = TermRules(daily_summary_at=time(9, 0), **terms)  # type: ignore[arg-type]
    return CoreConfig(STAFF, "en", MSK, frozenset(), terms=rules)


@asynccontextmanager
async def process(path: Path, clock: Clock, **terms: object) -> AsyncIterator[Desk]:
    storage = await SqliteStorage.open(path)
    try:
        composers = {Messenger.TELEGRAM: TelegramComposer(), Messenger.VK: VkComposer()}
        reception = Reception.build(storage, Locales(), config(**terms), composers, NoProbe(), clock=clock)
        yield Desk(storage, reception)
    finally:
        await storage.close()


async def show(replies: list[Reply]) -> list[Reply]:
    return replies


def profile(user_id: int) -> ResidentProfile:
    return ResidentProfile(ResidentRef(Messenger.TELEGRAM, user_id), f"Resident {user_id}", "en")


async def say(desk: Desk, user_id: int, step: dialog.ResidentInput) -> list[Reply]:
    return await desk.reception.dialog.handle(profile(user_id), step, show)


async def file(
    desk: Desk, user_id: int, description: str = "The bus stop shelter is broken", category: int = TRANSPORT
) -> int:
    """A resident files a report (Transport unless told) through the dialog (consenting on the way); its number."""
    steps: list[dialog.ResidentInput] = [
        dialog.NewReport(),
        dialog.Press(f"r.cat.{category}"),
        dialog.Text(description),
        dialog.Place(55.75, 37.61, "Tverskaya 1"),
        dialog.Press("r.nophoto"),
        dialog.Press("r.send"),
        dialog.Press("r.agree"),
    ]
    for step in steps:
        await say(desk, user_id, step)
    [report] = await desk.storage.list_reports(profile(user_id).ref, 1)
    return report.id


async def drain(desk: Desk) -> list[OutboxMessage]:
    """What the delivery worker would send now (taken off the queue)."""
    messages = await desk.storage.peek_outbox(1000)
    await desk.storage.forget_outbox([m.id for m in messages if m.id is not None])
    return [m for m in messages if m.chat == STAFF]


def posts(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    return [m for m in messages if m.kind is not OutboxKind.EDIT]


async def take(desk: Desk, number: int, clock: Clock) -> None:
    """Olga takes the report into work."""
    report = await desk.storage.get_report(number)
    assert report is not None
    olga = {"assignee": "staff:tg:7", "assignee_name": "Olga"}
    await desk.storage.record([change(report, EventKind.TAKEN, Actor("staff:tg:7", "Olga"), clock(), **olga)])


async def set_terms(desk: Desk, take: float, answer: float, resolve: int = 8) -> None:
    await desk.storage.update_category(TRANSPORT, take_hours=take, answer_hours=answer, resolve_days=resolve)


async def test_due_times_come_from_the_category_and_stay_with_the_report(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        await set_terms(desk, take=2, answer=0.5, resolve=3)
        number = await file(desk, 101)
        report = await desk.storage.get_report(number)
        assert report is not None
        assert report.dues.take == MONDAY + timedelta(hours=2)
        assert report.dues.answer == MONDAY + timedelta(minutes=30)
        # Three working days after Monday: the end of Thursday (midnight, Moscow).
        assert report.dues.resolve == datetime(2026, 12, 11, 0, 0, tzinfo=MSK)
        [created] = await desk.storage.history(number)
        assert created.dues == report.dues

        # New terms for the category do not rewrite a report filed before.
        await set_terms(desk, take=10, answer=10, resolve=10)
        again = await desk.storage.get_report(number)
        assert again is not None and again.dues == report.dues


async def test_working_hours_and_the_resident_s_confirmation_in_words(tmp_path: Path) -> None:
    from bot.core.workdays import parse_work_hours

    friday_evening = datetime(2026, 12, 11, 14, 0, tzinfo=UTC)  # 17:00 in Moscow
    clock = Clock(friday_evening)
    async with process(tmp_path / "bot.sqlite3", clock, work_hours=parse_work_hours("9-18")) as desk:
        await set_terms(desk, take=4, answer=4)
        number = await file(desk, 102)
        report = await desk.storage.get_report(number)
        assert report is not None
        # One working hour on Friday, three on Monday 14 December: 12:00 in Moscow.
        assert report.dues.answer == datetime(2026, 12, 14, 12, 0, tzinfo=MSK)
        messages = await desk.storage.peek_outbox(100)
        [confirmation] = [m for m in messages if m.chat_id == 102]
        assert "Expect an answer by 14 December, 12:00 (MSK)" in confirmation.text


async def test_near_then_over_each_once_as_a_reply_to_the_card(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        await set_terms(desk, take=1, answer=2)
        number = await file(desk, 103)
        await drain(desk)
        reminders = desk.reception.reminders

        clock.advance(minutes=44)
        assert await reminders.look() == 0
        clock.advance(minutes=1, seconds=1)  # 45 minutes: 0.75 of the hour to take it into work
        assert await reminders.look() == 1
        [near] = posts(await drain(desk))
        assert near.reply_to_card and near.report_id == number
        assert f"Report #{number}:" in near.text and "taking into work ends at" in near.text
        assert "nobody has taken it" in near.text
        assert await reminders.look() == 0 and await drain(desk) == []

        clock.advance(minutes=15)
        assert await reminders.look() == 1
        sent = await drain(desk)
        [over] = posts(sent)
        assert "taking into work has passed" in over.text and over.reply_to_card
        [edit] = [m for m in sent if m.kind is OutboxKind.EDIT]
        assert "Overdue: taking into work" in edit.text
        report = await desk.storage.get_report(number)
        assert report is not None and report.overdue(Term.TAKE)

        clock.advance(minutes=1)
        assert await reminders.look() == 0
        kinds = [e.text for e in await desk.storage.history(number) if e.kind is EventKind.REMINDED]
        assert kinds == ["take:near", "take:over"]


async def test_taking_it_stops_the_take_term_and_names_who_has_it(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        await set_terms(desk, take=1, answer=2)
        number = await file(desk, 104)
        await take(desk, number, clock)
        await drain(desk)
        clock.advance(hours=1, minutes=31)  # the take term passed (but it was taken); 0.75 of the answer's
        assert await desk.reception.reminders.look() == 1
        [near] = posts(await drain(desk))
        assert "first answer ends at" in near.text and "taken by Olga" in near.text
        assert "taking into work" not in near.text


async def test_a_reminder_due_while_the_bot_was_down_goes_once_after_the_start(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    path = tmp_path / "bot.sqlite3"
    async with process(path, clock) as desk:
        await set_terms(desk, take=1, answer=2)
        number = await file(desk, 105)
        await drain(desk)
    clock.advance(hours=5)  # down through both terms
    async with process(path, clock) as desk:
        assert await desk.reception.reminders.look() == 1
        [late] = posts(await drain(desk))
        # Both passed: said once each, not "near" first.
        assert "taking into work has passed" in late.text and "first answer has passed" in late.text
        assert "ends at" not in late.text
        assert await desk.reception.reminders.look() == 0
    async with process(path, clock) as desk:
        assert await desk.reception.reminders.look() == 0
        kinds = [e.text for e in await desk.storage.history(number) if e.kind is EventKind.REMINDED]
        assert kinds == ["take:over,answer:over"]


async def test_two_processes_looking_at_once_send_each_reminder_once(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    path = tmp_path / "bot.sqlite3"
    async with process(path, clock) as first, process(path, clock) as second:
        await set_terms(first, take=1, answer=2)
        numbers = [await file(first, 200 + i) for i in range(3)]
        await drain(first)
        clock.advance(minutes=46)
        counts = await asyncio.gather(first.reception.reminders.look(), second.reception.reminders.look())
        assert sum(counts) == 3
        for _round in range(3):
            await asyncio.gather(first.reception.reminders.look(), second.reception.reminders.look())
        texts = [m.text for m in posts(await drain(first))]
        for number in numbers:
            assert sum(f"#{number}" in t for t in texts) == 1, texts


async def test_several_due_within_a_minute_go_as_one_digest(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        await set_terms(desk, take=1, answer=5)
        numbers = []
        for i in range(3):
            numbers.append(await file(desk, 300 + i))
            clock.advance(seconds=20)
        await drain(desk)
        clock.now = MONDAY + timedelta(minutes=50)  # all three near: one digest of "ends at"
        assert await desk.reception.reminders.look() == 3
        [near] = posts(await drain(desk))
        assert "Terms of 3 reports" in near.text and near.text.count("taking into work ends at") == 3
        clock.now = MONDAY + timedelta(hours=1, seconds=1)  # the first's take term passed; the others' within 40 s
        assert await desk.reception.reminders.look() == 0  # it waits for them, none goes before its time
        clock.advance(seconds=40)
        assert await desk.reception.reminders.look() == 3
        [digest] = posts(await drain(desk))
        assert not digest.reply_to_card and "Terms of 3 reports" in digest.text
        for number in numbers:
            assert f"#{number}" in digest.text
        # The card links open the cards in a supergroup: t.me/c/<id>/<message> once the cards are posted.
        assert "taking into work has passed" in digest.text


async def test_the_digest_links_to_the_cards(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        await set_terms(desk, take=1, answer=5)
        first, second = await file(desk, 310), await file(desk, 311)
        await desk.storage.link_messages(STAFF, [71], first, card_of(71))
        await desk.storage.link_messages(STAFF, [72], second, card_of(72))
        await drain(desk)
        clock.advance(hours=1)
        assert await desk.reception.reminders.look() == 2
        [digest] = posts(await drain(desk))
        assert 'href="https://t.me/c/1234000111/71"' in digest.text
        assert 'href="https://t.me/c/1234000111/72"' in digest.text


def card_of(message_id: int) -> object:
    from bot.core.outbox import Card

    return Card(message_id, caption=False)


async def test_the_daily_summary_goes_once_a_day_in_the_staff_chat(tmp_path: Path) -> None:
    morning = datetime(2026, 12, 8, 5, 59, tzinfo=UTC)  # 08:59 in Moscow
    clock = Clock(morning - timedelta(days=1))
    path = tmp_path / "bot.sqlite3"
    async with process(path, clock) as desk, process(path, clock) as other:
        await set_terms(desk, take=1, answer=2)
        taken = await file(desk, 401)
        await file(desk, 402)
        await take(desk, taken, clock)
        await drain(desk)
        clock.now = morning
        assert not await desk.reception.summary.maybe_send()
        clock.advance(minutes=1)
        assert await desk.reception.summary.maybe_send()
        assert not await other.reception.summary.maybe_send()  # another process: already sent today
        assert not await desk.reception.summary.maybe_send()
        [summary] = posts(await drain(desk))
        assert "Summary for 08.12.2026" in summary.text
        assert "Open reports: 2, not taken into work: 1" in summary.text
        assert "taking into work: 1" in summary.text and "first answer: 2" in summary.text
        assert "Olga: 1" in summary.text
        clock.advance(days=1)
        assert await other.reception.summary.maybe_send()


async def resolve(desk: Desk, number: int, clock: Clock) -> None:
    report = await desk.storage.get_report(number)
    assert report is not None
    await desk.storage.record(
        [change(report, EventKind.RESOLVED, Actor("staff:tg:7", "Olga"), clock(), text="Replaced the shelter")]
    )


async def test_not_fixed_reopens_with_new_terms_and_a_new_card(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        number = await file(desk, 501)
        await resolve(desk, number, clock)
        await drain(desk)
        clock.advance(days=3)
        [reply] = await say(desk, 501, dialog.Press(f"r.notfixed.{number}"))
        assert f"Report #{number} is reopened" in reply.text.plain
        report = await desk.storage.get_report(number)
        assert report is not None and report.status is Status.REOPENED and report.verdict is Verdict.NOT_FIXED
        assert report.dues.start == clock() and report.taken_at is None and report.reminded == 0
        sent = await drain(desk)
        [old] = [m for m in sent if m.kind is OutboxKind.EDIT]
        assert "Reopened by the resident (not fixed)" in old.text
        [new_card] = posts(sent)
        assert f"Report #{number} is reopened: the resident says it is not fixed" in new_card.text
        assert sent.index(old) < sent.index(new_card)  # the old card is edited before the new one takes its place

        # The resident's next message is their comment on the reopened report.
        await say(desk, 501, dialog.Text("Still broken, the glass is on the ground"))
        [comment] = posts(await drain(desk))
        assert comment.reply_to_card and "Still broken" in comment.text

        [again] = await say(desk, 501, dialog.Press(f"r.notfixed.{number}"))
        assert "not resolved now" in again.text.plain


async def test_after_the_window_not_fixed_offers_a_new_report(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock, reopen_days=15) as desk:
        number = await file(desk, 502)
        await resolve(desk, number, clock)
        clock.advance(days=15, seconds=1)
        [reply] = await say(desk, 502, dialog.Press(f"r.notfixed.{number}"))
        assert "More than 15 days have passed" in reply.text.plain
        assert [b.label for row in reply.buttons for b in row] == ["New report"]
        report = await desk.storage.get_report(number)
        assert report is not None and report.status is Status.RESOLVED and report.verdict is None


async def test_fixed_closes_for_good_and_the_rating_is_kept(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        number = await file(desk, 503)
        await resolve(desk, number, clock)
        await drain(desk)
        [thanks] = await say(desk, 503, dialog.Press(f"r.fixed.{number}"))
        assert "closed as fixed" in thanks.text.plain
        [rated] = await say(desk, 503, dialog.Press(f"r.rate.{number}.4"))
        assert "4 of 5" in rated.text.plain
        [refused] = await say(desk, 503, dialog.Press(f"r.notfixed.{number}"))
        assert "already answered" in refused.text.plain
        # Somebody else's report: the button is not theirs.
        [forged] = await say(desk, 999, dialog.Press(f"r.rate.{number}.1"))
        assert "no longer valid" in forged.text.plain
        report = await desk.storage.get_report(number)
        assert report is not None and report.status is Status.RESOLVED
        assert report.verdict is Verdict.FIXED and report.rating == 4
        kinds = [e.kind for e in await desk.storage.history(number)][-2:]
        assert kinds == [EventKind.CONFIRMED, EventKind.RATED]
        edits = [m for m in await drain(desk) if m.kind is OutboxKind.EDIT]
        assert "The resident confirmed: fixed." in edits[-1].text and "4 of 5" in edits[-1].text


async def test_a_new_database_waits_for_the_next_summary_time_and_a_missed_one_comes_at_start(tmp_path: Path) -> None:
    ten = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, after today's summary time
    clock = Clock(ten)
    path = tmp_path / "bot.sqlite3"
    async with process(path, clock) as desk:
        assert not await desk.reception.summary.maybe_send()  # a bot started today: tomorrow's is its first
        clock.now = ten + timedelta(hours=23)  # 09:00 the next day
        assert await desk.reception.summary.maybe_send()
        await drain(desk)
    clock.now = ten + timedelta(days=2)  # down at 09:00 on the 10th; started at 10:00
    async with process(path, clock) as desk:
        assert await desk.reception.summary.maybe_send()
        [summary] = posts(await drain(desk))
        assert "Summary for 10.12.2026" in summary.text and "No open reports." in summary.text
        assert not await desk.reception.summary.maybe_send()
