"""A resident's conversation about a report: replies to the bot's messages, the button under an answer, and the
question whether a plain text is about an open report; on Telegram and VK, on both storage backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    STAFF_CHAT,
    Resident,
    VkResident,
    World,
    buttons,
    photo_bytes,
    shown,
    text_of,
    vk_labels,
    wait_for_count,
    world,
)
from tests.redis_ns import REDIS_URL

# What a resident sees, in their language.
SEES = {
    "en": {
        "roads": "Roads",
        "send": "Send",
        "added": "Added to your report #{n}: the officials will see it.",
        "one": "Is this about your report #{n}, or is it a new report?",
        "about": "About #{n}",
        "new": "New report",
        "category": "Choose the category of the problem:",
        "where": "Where is it? Send a location or type the address.",
    },
    "ru": {
        "roads": "Дороги",
        "send": "Отправить",
        "added": "Добавлено к вашему обращению #{n}: сотрудники это увидят.",
        "one": "Это по вашему обращению #{n} или новое обращение?",
        "about": "По обращению #{n}",
        "new": "Новое обращение",
        "category": "Выберите категорию проблемы:",
        "where": "Где это? Отправьте геопозицию или напишите адрес.",
    },
}


async def sent_report(
    w: World, resident: Resident, description: str, category: str = "Roads", seed: int = 7, send: str = "Send"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """File a report through the dialog; return the resident's confirmation and the card in the staff chat."""
    question = await resident.say("/new")
    [question] = await resident.press(question, category)
    await resident.say(description)
    await resident.say("Sadovaya 12")
    summary = await resident.say(photo=photo_bytes(seed))
    since = await w.client.last_seq()
    [confirmation] = await resident.press(summary, send)
    [card] = await w.official.wait(since)
    await linked(w, STAFF_CHAT, card)
    return confirmation, card


async def linked(w: World, chat_id: int, message: dict[str, Any], messenger: str = "tg") -> None:
    """Wait until the bot has recorded which report its message shows (a moment after the messenger took it).

    A person replies seconds later; a test would reply within the same millisecond, before the link exists.
    """
    await wait_for_count(
        w.settings.database_path,
        "SELECT COUNT(*) FROM message_links WHERE messenger = ? AND chat_id = ? AND message_id = ?",
        1,
        (messenger, chat_id, message["message_id"]),
    )


async def replies_to(
    w: World, resident: Resident, to: dict[str, Any], text: str | None = None, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The resident replies (Telegram reply) to the bot's message `to`; return the bot's answer to the resident and
    the post in the staff chat."""
    await linked(w, resident.chat_id, to)
    since = await w.client.last_seq()
    await w.client.inject_private_message(resident.user, text, reply_to_message_id=to["message_id"], **kwargs)
    [ack] = await resident.wait(since)
    [post] = await w.official.wait(since)
    return ack, post


async def answered(w: World, resident: Resident, to: dict[str, Any], text: str) -> dict[str, Any]:
    """An official replies to a message in the staff chat; return what the resident receives."""
    since = await resident.mark()
    [ack] = await w.official.reply(to, text)
    assert "sent to the resident" in text_of(ack)
    [answer] = await resident.wait(since)
    return answer


async def refused_press(w: World, resident: Resident, item: dict[str, Any], data: str) -> str:
    """Press a (forged) button under a bot message; return the popup's text."""
    callback = await w.client.inject_callback_query(resident.user, resident.chat_id, item["message_id"], data)
    for _ in range(200):
        answer = await w.client.callback_answer(callback)
        if answer.get("answered"):
            return str((answer.get("answer") or {}).get("text") or "")
        await asyncio.sleep(0.05)
    raise AssertionError("the press was never answered")


@pytest.mark.parametrize("storage", ["sqlite", "redis"])
async def test_replies_to_the_confirmation_and_an_answer_reach_the_card(
    tmp_path: Path, storage: str, namespace: str
) -> None:
    overrides: dict[str, Any] = {"redis_url": REDIS_URL, "redis_namespace": namespace} if storage == "redis" else {}
    async with world(tmp_path, **overrides) as w:
        resident = w.resident(1101)
        confirmation, card = await sent_report(w, resident, "Pothole at the bus stop")
        assert "#1" in text_of(confirmation)

        # A reply to the confirmation: a post replying to the card, said to be the resident's.
        ack, post = await replies_to(w, resident, confirmation, "It got bigger after the rain")
        assert "Added to your report #1" in text_of(ack)
        assert post["reply_to_message_id"] == card["message_id"]
        assert "Message from the resident about report #1:" in text_of(post)
        assert "It got bigger after the rain" in text_of(post)
        await w.official.card_shows(card, "Messages from the resident since: 1")

        # An official's answer carries the button; a reply to the answer with a photo and caption goes there too.
        answer = await answered(w, resident, card, "A crew is on its way")
        assert "Answer to your report #1" in text_of(answer) and "A crew is on its way" in text_of(answer)
        assert "Write to the officials about #1" in buttons(answer)
        picture = photo_bytes(31)
        ack, photo_post = await replies_to(w, resident, answer, photo=picture, caption="This is how it looks now")
        assert "Added to your report #1" in text_of(ack)
        assert photo_post["method"] == "sendPhoto"
        assert photo_post["reply_to_message_id"] == card["message_id"]
        assert "Message from the resident about report #1:" in text_of(photo_post)
        assert "This is how it looks now" in text_of(photo_post)
        assert await w.client.file_bytes(photo_post["photo_file_ids"][-1]) == picture
        await w.official.card_shows(card, "Messages from the resident since: 2")

        [history] = await w.official.reply(card, "/history")
        assert text_of(history).count("the resident wrote") == 2

        # An official's reply to the resident's post reaches the resident as the answer to #1.
        answer = await answered(w, resident, post, "Thank you, noted")
        assert "Answer to your report #1" in text_of(answer) and "Thank you, noted" in text_of(answer)


async def test_a_russian_resident_replies_to_the_resolution(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1102, "ru")
        ru = SEES["ru"]
        _confirmation, card = await sent_report(w, resident, "Яма у остановки", ru["roads"], send=ru["send"])
        since = await resident.mark()
        await w.official.reply(card, photo=photo_bytes(32), caption="/resolve Яму заделали")
        [resolution] = await resident.wait(since)
        assert "#1" in text_of(resolution) and "решено" in text_of(resolution)

        ack, post = await replies_to(w, resident, resolution, "Спасибо, но рядом ещё одна")
        assert ru["added"].format(n=1) in text_of(ack)
        assert post["reply_to_message_id"] == card["message_id"]
        assert "Спасибо, но рядом ещё одна" in text_of(post)
        await w.official.card_shows(card, "Messages from the resident since: 1", "Status: Resolved")


async def test_the_button_under_an_answer_sends_the_next_message(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1103)
        neighbour = w.resident(1104)
        _confirmation, card = await sent_report(w, resident, "Street light is out")
        neighbours_confirmation, _neighbours_card = await sent_report(w, neighbour, "Bench is broken", seed=8)
        answer = await answered(w, resident, card, "We will replace the lamp")

        [prompt] = await resident.press(answer, "Write to the officials about #1")
        assert "Write your message about report #1" in text_of(prompt)
        since = await w.client.last_seq()
        [ack] = await resident.send("The next lamp is out too")
        [post] = await w.official.wait(since)
        assert "Added to your report #1" in text_of(ack)
        assert post["reply_to_message_id"] == card["message_id"]
        assert "The next lamp is out too" in text_of(post)
        await w.official.card_shows(card, "Messages from the resident since: 1")

        # Once sent, the next plain text is not sent to #1 again: the resident is asked.
        [question] = await resident.send("And one more thing")
        assert "Is this about your report #1, or is it a new report?" in text_of(question)

        # Forged data, and another resident's report: refused, and nothing reaches the officials.
        since = await w.client.last_seq()
        assert await refused_press(w, resident, answer, "r.about.999") == "This button is no longer valid."
        assert await refused_press(w, neighbour, neighbours_confirmation, "r.about.1") == (
            "This button is no longer valid."
        )
        await resident.quiet(since)
        assert await w.official.inbox(since) == []
        assert await neighbour.inbox(since) == []
        # The neighbour's next text is not sent to #1: they are asked about their own report.
        [question] = await neighbour.send("Hello?")
        assert "Is this about your report #2" in text_of(question)
        assert set(buttons(question)) == {"About #2", "New report"}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_a_plain_text_with_one_open_report_asks_about_it(tmp_path: Path, language: str) -> None:
    sees = SEES[language]
    async with world(tmp_path) as w:
        resident = w.resident(1105, language)
        _confirmation, card = await sent_report(w, resident, "Pothole on Lenina", sees["roads"], send=sees["send"])

        # "About #1": the text written before the question goes to #1.
        [question] = await resident.send("The curb there is broken too")
        assert sees["one"].format(n=1) in text_of(question)
        assert list(buttons(question)) == [sees["about"].format(n=1), sees["new"]]
        since = await w.client.last_seq()
        [ack] = await resident.press(question, sees["about"].format(n=1))
        [post] = await w.official.wait(since)
        assert sees["added"].format(n=1) in text_of(ack)
        assert post["reply_to_message_id"] == card["message_id"]
        assert "The curb there is broken too" in text_of(post)
        await w.official.card_shows(card, "Messages from the resident since: 1")

        # "New report": the text starts a report as its description; the category is asked, then the place.
        [question] = await resident.send("Traffic light on Mira is dark")
        since = await w.client.last_seq()
        [asked] = await resident.press(question, sees["new"])
        assert sees["category"] in text_of(asked)
        [asked] = await resident.press(asked, sees["roads"])
        assert sees["where"] in text_of(asked)
        await resident.say("Mira 3")
        summary = await resident.say(photo=photo_bytes(41))
        assert "Traffic light on Mira is dark" in text_of(summary)
        [confirmation] = await resident.press(summary, sees["send"])
        assert "#2" in text_of(confirmation)
        [new_card] = await w.official.wait(since)
        assert "Report #2" in text_of(new_card) and "Traffic light on Mira is dark" in text_of(new_card)
        assert new_card["reply_to_message_id"] is None
        # Report #1 got nothing of it.
        assert "Messages from the resident since: 1" in shown(await w.official.card(card["message_id"]))


async def test_several_open_reports_get_one_button_each_newest_first(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1106)
        _c1, roads_card = await sent_report(w, resident, "Pothole by the school")
        _c2, clinic_card = await sent_report(w, resident, "No ramp at the clinic", "Healthcare", seed=9)

        [question] = await resident.send("When will someone come?")
        assert "Is this about one of your open reports, or is it a new report?" in text_of(question)
        assert list(buttons(question)) == ["#2 · Healthcare", "#1 · Roads", "New report"]
        since = await w.client.last_seq()
        [ack] = await resident.press(question, "#1 · Roads")
        [post] = await w.official.wait(since)
        assert "Added to your report #1" in text_of(ack)
        assert post["reply_to_message_id"] == roads_card["message_id"]
        assert "When will someone come?" in text_of(post)
        assert "Messages from the resident since" not in shown(await w.official.card(clinic_card["message_id"]))

        # A closed report is no longer offered.
        since = await resident.mark()
        await w.official.reply(clinic_card, "/reject Not the city's clinic")
        await resident.wait(since)
        [question] = await resident.send("Any news?")
        assert "Is this about your report #1, or is it a new report?" in text_of(question)
        assert list(buttons(question)) == ["About #1", "New report"]

        # Without open reports a text starts a report, as before.
        since = await resident.mark()
        await w.official.reply(roads_card, photo=photo_bytes(42), caption="/resolve Patched")
        await resident.wait(since)
        since = await w.client.last_seq()
        [asked] = await resident.send("Graffiti on the bridge")
        assert "Choose the category of the problem:" in text_of(asked)
        assert "Roads" in buttons(asked)
        [asked] = await resident.press(asked, "Yards and landscaping")
        assert "Where is it?" in text_of(asked)
        assert await w.official.inbox(since) == []


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_a_resident_without_reports_starts_a_report_with_a_text(tmp_path: Path, language: str) -> None:
    sees = SEES[language]
    async with world(tmp_path) as w:
        resident = w.resident(1107, language)
        [asked] = await resident.send("Broken swing in the yard")
        assert sees["category"] in text_of(asked)
        assert sees["roads"] in buttons(asked) and sees["new"] not in buttons(asked)
        [asked] = await resident.press(asked, sees["roads"])
        assert sees["where"] in text_of(asked)


async def vk_report(
    w: World, resident: VkResident, description: str, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A VK resident files a report; return the confirmation (a VK message) and the card in the staff chat."""
    welcome = await resident.say("Start")
    [question] = await resident.press(welcome, "New report")
    [question] = await resident.press(question, "Roads")
    await resident.say(description, photos=[photo_bytes(seed)])
    summary = await resident.say(geo={"lat": 59.93863, "lon": 30.31413, "place": {"title": "Nevsky 1"}})
    since = await w.client.last_seq()
    [confirmation] = await resident.press(summary, "Send")
    [card] = await w.official.wait(since)
    await linked(w, STAFF_CHAT, card)
    await linked(w, resident.id, confirmation, "vk")
    return confirmation, card


async def test_vk_reply_and_button_reach_the_officials_and_answers_come_back(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3101, "en")
        confirmation, card = await vk_report(w, resident, "Pothole by the metro", 51)
        assert "#1" in confirmation["text"]

        # VK's reply to the confirmation.
        since = await w.client.last_seq()
        [ack] = await resident.send("It is deeper now", reply_to=confirmation["message_id"])
        assert "Added to your report #1" in ack["text"]
        [post] = await w.official.wait(since)
        assert post["reply_to_message_id"] == card["message_id"]
        assert "Message from the resident about report #1:" in text_of(post) and "It is deeper now" in text_of(post)
        await w.official.card_shows(card, "Messages from the resident since: 1")

        # The official's reply to that post reaches the VK resident, with the button.
        since = await resident.mark()
        await w.official.reply(post, "We will check it today")
        [answer] = await resident.wait(since)
        assert "Answer to your report #1" in answer["text"] and "We will check it today" in answer["text"]
        assert "Write to the officials about #1" in vk_labels(answer)

        # The button, then a photo with a text.
        [prompt] = await resident.press(answer, "Write to the officials about #1")
        assert "Write your message about report #1" in prompt["text"]
        picture = photo_bytes(52)
        since = await w.client.last_seq()
        [ack] = await resident.send("Here it is", photos=[picture])
        assert "Added to your report #1" in ack["text"]
        [photo_post] = await w.official.wait(since)
        assert photo_post["reply_to_message_id"] == card["message_id"]
        assert "Here it is" in text_of(photo_post)
        assert await w.client.file_bytes(photo_post["photo_file_ids"][-1]) == picture
        await w.official.card_shows(card, "Messages from the resident since: 2")

        # VK's reply to the answer, too.
        await linked(w, resident.id, answer, "vk")
        since = await w.client.last_seq()
        [ack] = await resident.send("Thank you", reply_to=answer["message_id"])
        assert "Added to your report #1" in ack["text"]
        [post] = await w.official.wait(since)
        assert post["reply_to_message_id"] == card["message_id"] and "Thank you" in text_of(post)

        # A plain text asks; "About #1" sends it.
        [question] = await resident.send("One more thing")
        assert "Is this about your report #1, or is it a new report?" in question["text"]
        assert vk_labels(question) == ["About #1", "New report"]
        since = await w.client.last_seq()
        [ack] = await resident.press(question, "About #1")
        assert "Added to your report #1" in ack["text"]
        [post] = await w.official.wait(since)
        assert "One more thing" in text_of(post)

        # A forged button: refused, nothing reaches the officials.
        since = await w.client.last_seq()
        vk_since = await resident.mark()
        await w.vk.client.press_callback(resident.user, {"a": "r.about.999"})
        for _ in range(100):
            answers = await w.vk.client.event_answers()
            if answers and "no longer valid" in str(answers[-1].get("event_data")):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the forged press was never refused")
        await asyncio.sleep(0.5)
        assert await resident.inbox(vk_since) == []
        assert await w.official.inbox(since) == []


async def test_vk_russian_reply_with_text_buttons(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3102, "ru", callbacks=False)
        welcome = await resident.say("Начать")
        [question] = await resident.press(welcome, "Новое обращение")
        [question] = await resident.press(question, "Дороги")
        await resident.say("Яма у метро", photos=[photo_bytes(53)])
        summary = await resident.say("Невский 1")
        since = await w.client.last_seq()
        [confirmation] = await resident.press(summary, "Отправить")
        [card] = await w.official.wait(since)
        await linked(w, STAFF_CHAT, card)
        await linked(w, resident.id, confirmation, "vk")

        since = await w.client.last_seq()
        [ack] = await resident.send("Стала глубже", reply_to=confirmation["message_id"])
        assert "Добавлено к вашему обращению #1" in ack["text"]
        [post] = await w.official.wait(since)
        assert post["reply_to_message_id"] == card["message_id"] and "Стала глубже" in text_of(post)

        # A plain text: the question with text buttons, "Новое обращение" starts a report with it.
        [question] = await resident.send("Не горит фонарь во дворе")
        assert "Это по вашему обращению #1 или новое обращение?" in question["text"]
        assert vk_labels(question) == ["По обращению #1", "Новое обращение"]
        [asked] = await resident.press(question, "Новое обращение")
        assert "Выберите категорию проблемы:" in asked["text"]
