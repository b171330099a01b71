"""Scaling out on Redis: intake and delivery in separate processes sharing drafts, locks and the queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.harness import (
    OFFICIAL,
    STAFF_CHAT,
    Resident,
    StaffMember,
    make_settings,
    photo_bytes,
    running_bot,
    text_of,
)
from tests.redis_ns import REDIS_URL
from tests.tg_emulator import TelegramEmulator


async def test_intake_and_two_workers_share_redis(tmp_path: Path, namespace: str) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        common = {"redis_url": REDIS_URL, "redis_namespace": namespace}
        data = tmp_path / "data"
        intake = make_settings(emulator.url, data, bot_role="intake", **common)
        worker = make_settings(emulator.url, data, bot_role="worker", **common)
        resident = Resident(client, {"id": 1201, "first_name": "Zoya", "language_code": "en"})
        official = StaffMember(client, OFFICIAL)
        async with running_bot(intake), running_bot(worker), running_bot(worker):
            [question] = await resident.press(await resident.say("/new"), "Roads")
            await resident.say("Open hatch on the pavement")
            await resident.say("Lesnaya 4")
            summary = await resident.say(photo=photo_bytes(40))
            since = await official.mark()
            [confirmation] = await resident.press(summary, "Send")
            assert "#1" in text_of(confirmation)
            [card] = await official.wait(since)
            assert "Open hatch on the pavement" in text_of(card)

            since = await resident.mark()
            await official.reply(card, "Covered it with a plate")
            [answer] = await resident.wait(since)
            assert "Covered it with a plate" in text_of(answer)

            # Many reports at once: every card posted exactly once by the two workers together.
            residents = [
                Resident(client, {"id": 1300 + i, "first_name": "R", "language_code": "en"}) for i in range(12)
            ]
            summaries = []
            for r in residents:
                await r.say(photo=photo_bytes(50 + r.id % 7), caption=f"Broken lamp number {r.id}")
                question = await r.say("Park alley")
                [summary] = await r.press(question, "Yards and landscaping")
                summaries.append(summary)
            since = await official.mark()
            await asyncio.gather(*(r.press(s, "Send") for r, s in zip(residents, summaries, strict=True)))
            cards = await official.wait(since, count=12)
            await asyncio.sleep(1.0)
            cards = [m for m in await official.inbox(since) if "Report #" in text_of(m)]
            assert sorted(text_of(c).split("Broken lamp number ")[1].split()[0] for c in cards) == sorted(
                str(r.id) for r in residents
            )
