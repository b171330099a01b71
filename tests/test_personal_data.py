"""Residents' personal data: the notice and consent before the first report, /privacy, /forget (what is erased, in
the database, the photo archive and the cards), and erasure after the retention period; on Telegram and VK."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.settings import Settings
from tests.harness import (
    STAFF_CHAT,
    Resident,
    VkResident,
    buttons,
    db_count,
    file_report,
    linked,
    make_settings,
    photo_bytes,
    running_bot,
    sent,
    shown,
    text_of,
    vk_labels,
    wait_for_count,
    world,
)
from tests.tg_emulator import EmulatorClient, TelegramEmulator

NOTICE_TITLE = "Before your report is sent, please read how your personal data are handled."
DEFAULT_OPERATOR = "the administration that runs this reception office"
ERASED = "Your personal data are erased"
WITHDREW_TG = "The resident withdrew consent (Telegram): answers go to no one."
ERASED_CLOSED_TG = "From: personal data erased (Telegram)"


def rows(database: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows read straight from the bot's database."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        return [tuple(r) for r in db.execute(query, params).fetchall()]


def bold_spans(item: dict[str, Any]) -> list[str]:
    """The parts of a sent message shown in bold."""
    message = item.get("message") or {}
    text = text_of(item)
    entities = message.get("entities") or message.get("caption_entities") or []
    return [text[e["offset"] : e["offset"] + e["length"]] for e in entities if e["type"] == "bold"]


@contextlib.asynccontextmanager
async def emulator(tmp_path: Path) -> AsyncIterator[tuple[EmulatorClient, Settings]]:
    """The emulator with the staff chat, and the bot's settings for it (the bot is started by the test)."""
    async with TelegramEmulator() as emulator:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        yield emulator.client, make_settings(emulator.url, tmp_path / "data")


async def test_nothing_is_created_until_the_resident_agrees_to_the_notice(tmp_path: Path) -> None:
    async with world(
        tmp_path,
        operator_name="Testville city administration",
        operator_contact="dpo@testville.example",
        retention_days=90,
    ) as w:
        db = w.settings.database_path
        resident = w.resident(1301)
        summary = await file_report(resident, "Pothole at the school gate")
        since = await w.official.mark()
        [notice] = await resident.press_data(summary, buttons(summary)["Send"])
        text = text_of(notice)
        assert text.startswith(NOTICE_TITLE)
        assert NOTICE_TITLE in bold_spans(notice) and "Personal data" in bold_spans(notice)
        assert "Testville city administration processes your personal data" in text
        assert DEFAULT_OPERATOR not in text
        assert "What is kept:" in text
        assert "For how long: until 90 days after your report is closed" in text
        assert "To withdraw: /forget" in text
        assert "Operator's contact: dpo@testville.example" in text
        assert set(buttons(notice)) == {"I agree", "Cancel"}
        # Nothing is kept but the draft: no report, no consent, no card.
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 0
        assert db_count(db, "SELECT COUNT(*) FROM consents") == 0
        assert await w.official.quiet(since) == []

        # Cancel: refused, the draft dropped; still nothing.
        [cancelled] = await resident.press_data(notice, buttons(notice)["Cancel"])
        assert "Your draft is dropped." in text_of(cancelled)
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 0
        assert db_count(db, "SELECT COUNT(*) FROM consents") == 0
        assert db_count(db, "SELECT COUNT(*) FROM drafts") == 0
        assert await w.official.quiet(since) == []

        # Asked again; "I agree" records the consent and sends the draft.
        summary = await file_report(resident, "Pothole at the school gate, again")
        [notice] = await resident.press_data(summary, buttons(summary)["Send"])
        assert text_of(notice).startswith(NOTICE_TITLE)
        since = await w.official.mark()
        [confirmation] = await resident.press_data(notice, buttons(notice)["I agree"])
        assert "Your report #1 is sent to the officials" in text_of(confirmation)
        [card] = await w.official.wait(since)
        assert "Report #1" in text_of(card) and "Pothole at the school gate, again" in text_of(card)
        assert rows(db, "SELECT resident, version FROM consents") == [("tg:1301", 1)]
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 1

        # The next report is not asked about again.
        summary = await file_report(resident, "Broken lamp post")
        [confirmation] = await resident.press_data(summary, buttons(summary)["Send"])
        assert "Your report #2 is sent to the officials" in text_of(confirmation)


async def test_the_notice_names_the_administration_when_no_operator_is_set(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1302)
        summary = await file_report(resident, "Graffiti on the bridge")
        [notice] = await resident.press_data(summary, buttons(summary)["Send"])
        text = text_of(notice)
        assert f"{DEFAULT_OPERATOR[0].upper()}{DEFAULT_OPERATOR[1:]}" in text or DEFAULT_OPERATOR in text
        assert "For how long: until 365 days after your report is closed" in text
        assert "Operator's contact" not in text


async def test_a_new_notice_version_asks_again(tmp_path: Path) -> None:
    async with emulator(tmp_path) as (client, settings):
        resident = Resident(client, {"id": 1303, "first_name": "Ivan", "last_name": "Petrov", "language_code": "en"})
        async with running_bot(settings):
            summary = await file_report(resident, "Open manhole")
            [notice] = await resident.press_data(summary, buttons(summary)["Send"])
            [confirmation] = await resident.press_data(notice, buttons(notice)["I agree"])
            assert "#1 is sent" in text_of(confirmation)
        database = settings.database_path
        assert rows(database, "SELECT version FROM consents WHERE resident = 'tg:1303'") == [(1,)]

        async with running_bot(settings.model_copy(update={"privacy_notice_version": 2})):
            # /privacy: the notice with the button, as the resident has not agreed to this version.
            privacy = await resident.say("/privacy")
            assert "You agreed on" not in text_of(privacy)
            assert set(buttons(privacy)) == {"I agree"}
            summary = await file_report(resident, "Open manhole, the second one")
            [notice] = await resident.press_data(summary, buttons(summary)["Send"])
            assert text_of(notice).startswith(NOTICE_TITLE)
            assert db_count(database, "SELECT COUNT(*) FROM reports") == 1
            # The button under /privacy agrees too, and sends the finished draft.
            [confirmation] = await resident.press_data(privacy, buttons(privacy)["I agree"])
            assert "#2 is sent" in text_of(confirmation)
        assert rows(database, "SELECT version FROM consents WHERE resident = 'tg:1303'") == [(2,)]


async def test_privacy_shows_the_notice_and_records_consent(tmp_path: Path) -> None:
    async with world(tmp_path, operator_contact="+7 800 000-00-00") as w:
        resident = w.resident(1304)
        privacy = await resident.say("/privacy")
        assert "Personal data" in bold_spans(privacy)
        assert "Operator's contact: +7 800 000-00-00" in text_of(privacy)
        assert "You agreed on" not in text_of(privacy)
        assert set(buttons(privacy)) == {"I agree"}
        [thanks] = await resident.press_data(privacy, buttons(privacy)["I agree"])
        assert "Thank you: your consent is recorded." in text_of(thanks)
        assert rows(w.settings.database_path, "SELECT resident, version FROM consents") == [("tg:1304", 1)]

        again = await resident.say("/privacy")
        assert "Personal data" in text_of(again) and "You agreed on " in text_of(again)
        assert set(buttons(again)) == {"New report", "My reports"}
        # Agreed already: Send sends at once.
        summary = await file_report(resident, "Fallen sign")
        [confirmation] = await resident.press_data(summary, buttons(summary)["Send"])
        assert "Your report #1 is sent to the officials" in text_of(confirmation)


async def test_forget_erases_the_resident_from_the_database_the_archive_and_the_cards(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        db = w.settings.database_path
        resident = w.resident(1305, first_name="Zinaida")
        neighbour = w.resident(1306, first_name="Boris")

        # A closed report, whose photo a neighbour's report uses too.
        _, closed_card = await sent(w, resident, "Leaking pipe in the basement", seed=21)
        since = await resident.mark()
        await w.official.reply(closed_card, "/reject Not the city's pipe")
        await resident.wait(since)  # the news of the rejection, before the resident goes on
        await w.official.card_shows(closed_card, "Status: Rejected")
        _, neighbour_card = await sent(w, neighbour, "Leaking pipe, seen from the street", seed=21)
        # An open report with an added photo, an answer, and a draft under way.
        confirmation, open_card = await sent(w, resident, "Broken swing on the playground", seed=22)
        since = await w.client.last_seq()
        await w.client.inject_private_message(
            resident.user,
            photo=photo_bytes(23),
            caption="It is worse now",
            reply_to_message_id=confirmation["message_id"],
        )
        await resident.wait(since)
        await w.official.wait(since)
        since = await resident.mark()
        await w.official.reply(open_card, "We will fix it this week")
        await resident.wait(since)
        question = await resident.say("/new")
        await resident.press(question, "Roads")
        await resident.say("A draft never sent")

        [(closed_photos,), (neighbour_photos,), (open_photos,)] = rows(db, "SELECT photos FROM reports ORDER BY id")
        [shared] = json.loads(closed_photos)
        assert json.loads(neighbour_photos) == [shared]  # the same bytes: archived once, used twice
        [own] = json.loads(open_photos)
        [(added,)] = rows(
            db, "SELECT photos FROM events WHERE report_id = 3 AND author = 'tg:1305' AND photos IS NOT NULL"
        )
        [added_photo] = json.loads(added)
        archive = w.settings.photos_dir
        for digest in (shared, own, added_photo):
            assert (archive / digest[:2] / digest).is_file()
        for table in ("residents", "drafts", "consents", "flood"):
            key = "key" if table == "residents" else "resident"
            assert db_count(db, f"SELECT COUNT(*) FROM {table} WHERE {key} = 'tg:1305'") >= 1, table
        assert db_count(db, "SELECT COUNT(*) FROM message_links WHERE messenger = 'tg' AND chat_id = 1305") >= 1

        # "Keep my data" erases nothing.
        question = await resident.say("/forget")
        assert text_of(question).startswith("Erase your personal data?")
        assert buttons(question) == {"Erase my data": "r.forget", "Keep my data": "r.keep"}
        [kept] = await resident.press(question, "Keep my data")
        assert "Nothing was erased." in text_of(kept)
        assert db_count(db, "SELECT COUNT(*) FROM reports WHERE resident = 'tg:1305'") == 2

        [erased] = await resident.press(question, "Erase my data")
        assert ERASED in text_of(erased)

        # The reports stay, without the resident.
        assert rows(db, "SELECT id, resident, resident_name FROM reports WHERE id IN (1, 3) ORDER BY id") == [
            (1, "tg:0", ""),
            (3, "tg:0", ""),
        ]
        assert rows(db, "SELECT resident, resident_name FROM reports WHERE id = 2") == [("tg:1306", "Boris Petrov")]
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE author = 'tg:1305'") == 0
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE author = 'resident' AND photos IS NOT NULL") == 0
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE author = 'resident' AND report_id IN (1, 3)") >= 3
        assert rows(db, "SELECT report_id FROM events WHERE kind = 'consent_withdrawn' ORDER BY report_id") == [
            (1,),
            (3,),
        ]
        for table in ("residents", "drafts", "consents", "flood"):
            key = "key" if table == "residents" else "resident"
            assert db_count(db, f"SELECT COUNT(*) FROM {table} WHERE {key} = 'tg:1305'") == 0, table
        assert db_count(db, "SELECT COUNT(*) FROM message_links WHERE messenger = 'tg' AND chat_id = 1305") == 0
        # Their own photos are gone from the archive; the one the neighbour's report uses stays.
        assert not (archive / own[:2] / own).exists()
        assert not (archive / added_photo[:2] / added_photo).exists()
        assert (archive / shared[:2] / shared).is_file()

        # The cards: the open one says answers go to no one, the closed one that the data are erased.
        now = await w.official.card_shows(open_card, WITHDREW_TG)
        assert "Zinaida" not in shown(now) and "Reports from this resident" not in shown(now)
        now = await w.official.card_shows(closed_card, ERASED_CLOSED_TG)
        assert "Zinaida" not in shown(now)
        assert "Boris Petrov" in shown(await w.official.card(neighbour_card["message_id"]))
        [history] = await w.official.reply(open_card, "/history")
        assert "the resident withdrew consent; their personal data are erased" in text_of(history)
        assert "Zinaida" not in text_of(history)

        # An official's answer afterwards reaches no one; there is nobody to ban.
        since = await resident.mark()
        await w.official.reply(open_card, "The swing is repaired")
        assert await resident.quiet(since, 1.0) == []
        [nobody] = await w.official.reply(open_card, "/ban")
        assert "erased their personal data: there is nobody to ban" in text_of(nobody)

        # A new report asks for consent again.
        summary = await file_report(resident, "Another broken swing", 24)
        [notice] = await resident.press_data(summary, buttons(summary)["Send"])
        assert text_of(notice).startswith(NOTICE_TITLE)


async def test_forget_empties_the_reports_photo_list(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        db = w.settings.database_path
        resident = w.resident(1311)
        await sent(w, resident, "Broken fence by the river", seed=25)
        question = await resident.say("/forget")
        await resident.press(question, "Erase my data")
        assert rows(db, "SELECT resident, photos FROM reports") == [("tg:0", "[]")]


async def test_retention_empties_the_reports_photo_list(tmp_path: Path) -> None:
    async with world(tmp_path, retention_days=0, retention_check_seconds=0.5) as w:
        db = w.settings.database_path
        resident = w.resident(1312)
        _, card = await sent(w, resident, "Broken fence by the lake", seed=26)
        await w.official.reply(card, "/reject Not the city's fence")
        await wait_for_count(db, "SELECT COUNT(*) FROM reports WHERE resident = 'tg:0'", 1)
        assert rows(db, "SELECT photos FROM reports") == [("[]",)]


async def test_an_answer_still_queued_for_a_resident_who_forgets_is_never_sent(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        db = w.settings.database_path
        resident = w.resident(1307)
        confirmation, card = await sent(w, resident, "Dead tree leaning over the road")
        # The resident's chat is unreachable: the answer waits in the outbox.
        await w.client.set_outage(resident.id, True)
        await w.official.reply(card, "Secret crew schedule: Tuesday")
        pending = "SELECT COUNT(*) FROM outbox WHERE messenger = 'tg' AND chat_id = ? AND status = 'pending'"
        await wait_for_count(db, pending + " AND attempts > 0", 1, (resident.id,))
        # The erase button still works (its reply cannot be shown while the chat is down).
        await resident.press_data(confirmation, "r.forget", count=0)
        await wait_for_count(db, "SELECT COUNT(*) FROM reports WHERE resident = 'tg:0'", 1)
        assert db_count(db, pending, (resident.id,)) == 0
        since = await resident.mark()
        await w.client.set_outage(resident.id, False)
        await asyncio.sleep(1.5)
        assert not any("Secret crew schedule" in text_of(m) for m in await resident.inbox(since))


async def test_retention_erases_closed_reports_and_leaves_open_ones(tmp_path: Path) -> None:
    async with world(tmp_path, retention_days=0, retention_check_seconds=0.5) as w:
        db = w.settings.database_path
        resident = w.resident(1308, first_name="Fedor")
        _, rejected_card = await sent(w, resident, "Noise from the construction site at night", seed=31)
        _, open_card = await sent(w, resident, "Overflowing bins in the yard", seed=32)
        [(rejected_photos,)] = rows(db, "SELECT photos FROM reports WHERE id = 1")
        [rejected_photo] = json.loads(rejected_photos)
        assert (w.settings.photos_dir / rejected_photo[:2] / rejected_photo).is_file()

        told = await resident.mark()
        await w.official.reply(rejected_card, "/reject Private site, not the city's")
        await resident.wait(told)  # the news of the rejection, before the answer below
        await w.official.card_shows(rejected_card, "Status: Rejected")
        since = await w.official.mark()
        await wait_for_count(db, "SELECT COUNT(*) FROM reports WHERE id = 1 AND resident = 'tg:0'", 1)
        assert rows(db, "SELECT resident_name FROM reports WHERE id = 1") == [("",)]
        assert rows(db, "SELECT author FROM events WHERE report_id = 1 AND kind = 'anonymised'") == [("system",)]
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE author = 'tg:1308' AND report_id = 1") == 0
        assert not (w.settings.photos_dir / rejected_photo[:2] / rejected_photo).exists()
        # The open report keeps its resident, who still gets answers; cards are not edited by retention.
        assert rows(db, "SELECT resident, resident_name FROM reports WHERE id = 2") == [("tg:1308", "Fedor Petrov")]
        await asyncio.sleep(1.2)  # a couple more runs
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE kind = 'anonymised'") == 1
        edits = [m for m in await w.client.sent(chat_id=STAFF_CHAT, since=since) if m["method"].startswith("edit")]
        assert edits == []
        assert "Fedor Petrov" in shown(await w.official.card(open_card["message_id"]))
        since = await resident.mark()
        await w.official.reply(open_card, "The bins are emptied")
        [answer] = await resident.wait(since)
        assert "The bins are emptied" in text_of(answer)


async def test_retention_keeps_reports_closed_more_recently_than_the_period(tmp_path: Path) -> None:
    async with world(tmp_path, retention_days=30, retention_check_seconds=0.5) as w:
        db = w.settings.database_path
        resident = w.resident(1309)
        _, card = await sent(w, resident, "Stray dogs near the school")
        await w.official.reply(card, "/reject Not our service")
        await w.official.card_shows(card, "Status: Rejected")
        await asyncio.sleep(1.5)
        assert rows(db, "SELECT resident FROM reports") == [("tg:1309",)]
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE kind = 'anonymised'") == 0


async def test_a_vk_resident_agrees_and_forgets(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        db = w.settings.database_path
        resident = VkResident(w.vk.client, 3301, "en")
        welcome = await resident.say("Start")
        [question] = await resident.press(welcome, "New report")
        [question] = await resident.press(question, "Roads")
        await resident.say("Pothole by the tram stop", photos=[photo_bytes(41)])
        summary = await resident.say(geo={"lat": 59.93863, "lon": 30.31413, "place": {"title": "Nevsky 1"}})

        # Send, pressed by hand: the notice, and nothing created.
        [send] = [b["action"] for row in summary["keyboard"]["buttons"] for b in row if b["action"]["label"] == "Send"]
        since = await resident.mark()
        await w.vk.client.press_callback(resident.user, json.loads(send["payload"]))
        [notice] = await resident.wait(since)
        assert NOTICE_TITLE in notice["text"] and "To withdraw: /forget" in notice["text"]
        assert vk_labels(notice) == ["I agree", "Cancel"]
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 0
        staff_since = await w.official.mark()
        [confirmation] = await resident.press(notice, "I agree")
        assert "Your report #1 is sent to the officials" in confirmation["text"]
        [card] = await w.official.wait(staff_since)
        await linked(w, STAFF_CHAT, card)
        assert "(VK)" in text_of(card)
        assert rows(db, "SELECT resident FROM consents") == [("vk:3301",)]

        question = await resident.say("/forget")
        assert question["text"].startswith("Erase your personal data?")
        assert vk_labels(question) == ["Erase my data", "Keep my data"]
        [erased] = await resident.press(question, "Erase my data")
        assert ERASED in erased["text"]
        assert rows(db, "SELECT resident, resident_name FROM reports") == [("vk:0", "")]
        assert db_count(db, "SELECT COUNT(*) FROM consents") == 0
        assert db_count(db, "SELECT COUNT(*) FROM residents WHERE key = 'vk:3301'") == 0
        assert db_count(db, "SELECT COUNT(*) FROM message_links WHERE messenger = 'vk'") == 0
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE author = 'vk:3301'") == 0
        await w.official.card_shows(card, "The resident withdrew consent (VK): answers go to no one.")

        since = await resident.mark()
        await w.official.reply(card, "Patched today")
        await asyncio.sleep(1.0)
        assert await resident.inbox(since) == []


async def test_an_erased_residents_card_keeps_its_other_facts(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1310, first_name="Lidia")
        _, card = await sent(w, resident, "Ice on the pavement by the pharmacy")
        question = await resident.say("/forget")
        await resident.press(question, "Erase my data")
        now = await w.official.card_shows(card, WITHDREW_TG)
        assert "Ice on the pavement by the pharmacy" in shown(now) and "Report #1" in shown(now)
        assert "Lidia" not in shown(now)

        # Taking it into work renders the card again; the resident does not come back.
        await w.official.press(card, "Take into work", count=0)
        now = await w.official.card_shows(card, "Status: In progress", WITHDREW_TG)
        assert "Lidia" not in shown(now)
