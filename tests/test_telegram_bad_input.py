"""Bad input gets a clear, polite answer and changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.harness import OFFICIAL, STAFF_CHAT, buttons, photo_bytes, text_of, world

UNSUPPORTED = [
    {"file": ("sticker", b"webp-bytes")},
    {"file": ("voice", b"ogg-bytes")},
    {"file": ("video", b"mp4-bytes")},
    {"file": ("document", b"%PDF-1.4"), "file_name": "complaint.pdf"},
    {"extra": {"contact": {"phone_number": "+79990000000", "first_name": "Ivan"}}},
    {
        "extra": {
            "poll": {
                "id": "1",
                "question": "?",
                "options": [
                    {"text": "a", "voter_count": 0, "persistent_id": "a"},
                    {"text": "b", "voter_count": 0, "persistent_id": "b"},
                ],
                "allows_revoting": False,
                "members_only": False,
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
        }
    },
]


async def _draft_to_summary(resident, description: str = "Broken traffic light at the crossing") -> dict:
    question = await resident.say("/new")
    [question] = await resident.press(question, "Roads")
    await resident.say(description)
    await resident.say("Mira avenue 1")
    return await resident.say(photo=photo_bytes(5))


async def test_unsupported_content_is_refused_politely_and_changes_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(701)
        await resident.say("/new")
        [question] = await resident.press(await resident.say("/new"), "Roads")
        for kwargs in UNSUPPORTED:
            reply = await resident.say(**kwargs)
            assert "I can only take text, photos and a location" in text_of(reply), kwargs
            # The current question is repeated, so the resident knows what to do.
            assert "Describe the problem" in text_of(reply)
        assert "too long: 10000 characters" in text_of(await resident.say("x" * 10_000))
        assert "empty" in text_of(await resident.say("   \n  "))
        assert "too short" in text_of(await resident.say("ab"))
        question = await resident.say("Pothole near the school gate")
        assert "Where is it?" in text_of(question)
        assert "location looks wrong" in text_of(await resident.say(location={"latitude": 123.0, "longitude": 37.0}))

        russian = w.resident(702, "ru")
        assert "Извините" in text_of(await russian.say(file=("sticker", b"webp")))


async def test_edited_messages_do_not_change_the_report(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(703)
        summary = await _draft_to_summary(resident, "Original description of the pothole")
        sent = await w.client.history(resident.id)
        mine = [
            m for m in sent if m["from"]["id"] == resident.id and m.get("text") == "Original description of the pothole"
        ]
        since = await resident.mark()
        await w.client.inject_edited_message(resident.id, mine[0]["message_id"], text="Edited description")
        [note] = await resident.wait(since)
        assert "Edited messages do not change a report" in text_of(note)
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert "Original description of the pothole" in text_of(card)


async def test_forged_and_stale_buttons(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(704)
        summary = await _draft_to_summary(resident)
        for data in ["garbage", "r.cat.99999", "s.take.1", "r.edit.nothing", "r.cat.-1", "", None]:
            since = await resident.mark()
            callback = await w.client.inject_callback_query(resident.user, resident.id, summary["message_id"], data)
            record: dict = {}
            for _ in range(100):
                record = await w.client.callback_answer(callback)
                if record.get("answered"):
                    break
                await asyncio.sleep(0.05)
            answer = record.get("answer") or {}
            assert record.get("answered"), data
            if data == "r.cat.99999":
                [reply] = await resident.wait(since)
                assert "not available" in text_of(reply)
            else:
                assert "no longer valid" in (answer.get("text") or ""), (data, record)
                assert answer.get("show_alert") is True

        # Two fast taps on "I agree" under the notice (what a first report's Send shows) make one report, never two.
        [notice] = await resident.press_data(summary, "r.send")
        since = await w.official.mark()
        told = await resident.mark()
        await asyncio.gather(
            w.client.inject_callback_query(resident.user, resident.id, notice["message_id"], "r.agree"),
            w.client.inject_callback_query(resident.user, resident.id, notice["message_id"], "r.agree"),
        )
        await w.official.wait(since)
        # The first tap sends the report; the second finds the consent recorded and no draft left.
        replies = sorted(text_of(m) for m in await resident.wait(told, count=2))
        assert "is sent to the officials" in replies[1] and "consent is recorded" in replies[0], replies
        await asyncio.sleep(0.8)
        cards = [m for m in await w.official.inbox(since) if "Report #" in text_of(m)]
        assert len(cards) == 1
        [stale] = await resident.press(summary, "Send")
        assert "no report in progress" in text_of(stale)
        assert len([m for m in await w.official.inbox(since) if "Report #" in text_of(m)]) == 1


async def test_staff_chat_and_wrong_chats(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(705)
        summary = await _draft_to_summary(resident)
        since = await w.official.mark()
        [_confirmation] = await resident.press(summary, "Send")
        [card] = await w.official.wait(since)

        # A reply to a bot message that is not a card.
        [note] = await w.official.write("/new")
        assert "works in a private chat" in text_of(note)
        [refusal] = await w.official.reply(note, "hello?")
        assert "not a report card" in text_of(refusal)
        # /resolve not as a reply.
        [hint] = await w.official.write("/resolve done")
        assert "as a reply" in text_of(hint)
        # Officials talking among themselves: the bot stays silent.
        colleague = await w.client.inject_group_message(STAFF_CHAT, {"id": 801, "first_name": "Vera"}, "Who takes #1?")
        mark = await w.official.mark()
        await w.official.reply(colleague, "I will", count=0)
        await w.official.write("Just chatting", count=0)
        assert await w.official.quiet(mark) == []
        # A sticker as a reply to the card is not relayed.
        since_resident = await resident.mark()
        [note] = await w.official.reply(card, file=("sticker", b"webp"))
        assert "Only text and photos" in text_of(note)
        assert "Unknown command" in text_of((await w.official.reply(card, "/frobnicate"))[0])
        assert await resident.quiet(since_resident) == []
        # Staff commands in a private chat are unknown there.
        assert "do not know this command" in text_of(await resident.say("/resolve fixed"))
        # Another group: commands get a polite word, other messages silence.
        await w.client.create_chat(-1009999, "Random group", "supergroup")
        mark = await w.client.last_seq()
        await w.client.inject_group_message(-1009999, OFFICIAL, "/start")
        [word] = await w.client.wait_sent(chat_id=-1009999, since=mark, timeout=10)
        assert "I work in a private chat" in text_of(word)
        await w.client.inject_group_message(-1009999, OFFICIAL, "just text")
        await asyncio.sleep(0.5)
        assert len(await w.client.sent(chat_id=-1009999, since=mark, method="sendMessage")) == 1
        # The card's buttons still work after all that, and show the history.
        [history] = await w.official.press(card, "History")
        assert "sent by the resident" in text_of(history)
        assert "is a" not in buttons(card)


async def test_commands_in_any_case_and_addressed_to_the_bot(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(707)
        assert "Roads" in buttons(await resident.say("/NEW"))
        assert "Roads" in buttons(await resident.say("/new@PriemnayaBot"))
        assert "Hello!" in text_of(await resident.say("/start from-the-city-site"))
        assert "I do not know this command" in text_of(await resident.say("/categories_of_mine"))


async def test_an_unreadable_update_does_not_stop_the_bot(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(706)
        # Updates no client library can read: the bot must skip them, not stall every resident behind them.
        await w.client.inject_update({"message": {"message_id": "not a number", "chat": "nowhere"}})
        await w.client.inject_update({"callback_query": {"id": 5}})
        # A resident's own chat, with a field the step uses of the wrong type: skipped too, nothing answered.
        chat = {"id": 706, "type": "private", "first_name": "Ivan"}
        author = {"id": 706, "is_bot": False, "first_name": "Ivan"}
        await w.client.inject_update({"message": {"message_id": 1, "date": 0, "chat": chat, "from": author, "text": 5}})
        welcome = await resident.say("/start")
        assert "Hello!" in text_of(welcome)
        assert len(await w.client.sent(chat_id=706)) == 1
