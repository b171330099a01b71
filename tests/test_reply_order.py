"""A brisk resident's replies come in the order of their steps, also while each waits for the chat's send budget.

The resident sends the next step before the bot's (paced, one a second) reply to the previous one has arrived.
Each step's reply must still arrive in step order, and the report's confirmation after all of them: before, the
replies waiting for the budget overtook one another, and "Describe the problem..." could come right after
"Your report #1 is sent", with a Cancel button that opened a stray draft.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import VkResident, agree, buttons, photo_bytes, text_of, vk_labels, world

EXPECTED = ["Describe the problem", "Where is it?", "Send one or more photos", "Please check your report"]


def order_of(texts: list[str]) -> list[str]:
    """Which expected question each reply is, in arrival order."""
    return [next((e for e in EXPECTED if e in t), t[:40]) for t in texts]


async def test_telegram_replies_keep_the_order_of_the_steps(tmp_path: Path) -> None:
    async with world(tmp_path, telegram_private_per_second=1) as w:
        await w.client.set_rate_limits(True, private_per_second=1)
        resident = w.resident(901)
        await agree(resident)  # the notice before the first report is not this test's subject
        question = await resident.say("/new")
        since = await resident.mark()
        # Four steps at once, none waiting for the bot's answer to the one before.
        await w.client.inject_callback_query(
            resident.user, resident.id, question["message_id"], buttons(question)["Roads"]
        )
        await w.client.inject_private_message(resident.user, "The traffic light is dark at night")
        await w.client.inject_private_message(resident.user, "Lenina and Mira crossing")
        await w.client.inject_private_message(resident.user, photo=photo_bytes(5))
        replies = await resident.wait(since, count=4)
        assert order_of([text_of(r) for r in replies]) == EXPECTED
        summary = replies[-1]
        since = await resident.mark()
        [confirmation] = await resident.press(summary, "Send")
        assert "#1 is sent" in text_of(confirmation)
        assert await resident.quiet(since, 1.5) == [confirmation]
        assert (await w.client.counters())["rate_limited"] == 0


async def test_vk_replies_keep_the_order_of_the_steps(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True, vk_per_second=2) as w:
        assert w.vk is not None
        vk = w.vk.client
        await vk.set_rate_limit(2)
        resident = VkResident(vk, 4901, "en")
        question = await resident.say("/new")
        assert "Roads" in vk_labels(question)
        since = await resident.mark()
        await resident.press(question, "Roads", count=0)
        await vk.send_message(resident.user, "The traffic light is dark at night", client_info=resident.client_info)
        await vk.send_message(resident.user, "Lenina and Mira crossing", client_info=resident.client_info)
        await vk.send_message(resident.user, photos=[photo_bytes(6)], client_info=resident.client_info)
        replies = await resident.wait(since, count=4)
        assert order_of([r["text"] for r in replies]) == EXPECTED
        assert (await vk.counters())["rate_limited"] == 0
