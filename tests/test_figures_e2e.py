"""Figures end to end: `/stats` asked in the staff chat and by an administrator in private, through the emulator."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from tests.harness import ADMIN, OFFICIAL, STAFF_CHAT, Resident, World, sent, text_of, world

QUIET: dict[str, Any] = {"daily_summary_at": ""}


async def chart_of(w: World, item: dict[str, Any]) -> Image.Image:
    """The picture a sendPhoto carried, decoded."""
    file_id = item["message"]["photo"][-1]["file_id"]
    image = Image.open(io.BytesIO(await w.client.file_bytes(file_id)))
    image.load()
    return image


async def test_stats_in_the_staff_chat_give_the_figures_and_a_chart(tmp_path: Path) -> None:
    async with world(tmp_path, **QUIET) as w:
        for user_id, what in ((1501, "Pothole by the school"), (1502, "Pothole on Lenina")):
            _confirmation, card = await sent(w, w.resident(user_id), what)
        await w.official.press(card, "Take into work", count=0)
        await w.official.card_shows(card, "taken by Oleg Official")

        text, chart = await w.official.write("/stats", count=2)
        figures = text_of(text)
        assert "Figures for" in figures or "Показатели" in figures, figures
        assert "2" in figures.splitlines()[1]  # received: 2
        assert "Roads" in figures or "Дороги" in figures
        image = await chart_of(w, chart)
        assert image.format == "PNG" and image.width >= 800


async def test_an_administrator_asks_in_private_and_a_resident_is_refused(tmp_path: Path) -> None:
    async with world(tmp_path, **QUIET) as w:
        await sent(w, w.resident(1503), "Dark street on Sadovaya")
        admin = Resident(w.client, ADMIN)
        text, _chart = await admin.send("/stats today", count=2)
        assert "Figures for" in text_of(text) and "Received: 1" in text_of(text), text_of(text)

        refused = await w.resident(1504).say("/stats")
        assert "Figures are for administrators" in text_of(refused), text_of(refused)
        assert "Received" not in text_of(refused)

        bad = await admin.say("/stats yesterday")
        assert "Usage: /stats [PERIOD] [CATEGORY_ID]" in text_of(bad), text_of(bad)
        assert OFFICIAL["id"] != ADMIN["id"] and STAFF_CHAT < 0


async def test_export_sends_both_files_to_an_administrator_and_refuses_an_official(tmp_path: Path) -> None:
    async with world(tmp_path, **QUIET) as w:
        await sent(w, w.resident(1505, first_name="Svetlana"), "Broken bench in the park")
        since = await w.client.last_seq()
        [note] = await w.admin.write("/export today")
        assert "CSV and XLSX" in text_of(note), text_of(note)
        files = await w.client.wait_sent(chat_id=STAFF_CHAT, since=since, count=2, timeout=20, method="sendDocument")
        names = sorted(f["message"]["document"]["file_name"] for f in files)
        assert names[0].endswith(".csv") and names[1].endswith(".xlsx"), names
        [csv_file] = [f["message"]["document"] for f in files if f["message"]["document"]["file_name"].endswith(".csv")]
        csv_text = (await w.client.file_bytes(csv_file["file_id"])).decode("utf-8-sig")
        assert "Broken bench in the park" in csv_text and "Svetlana" not in csv_text

        [refused] = await w.official.write("/export today")
        assert "Only administrators can export reports." in text_of(refused), text_of(refused)


async def test_problems_name_a_cluster_of_reports(tmp_path: Path) -> None:
    async with world(tmp_path, **QUIET) as w:
        for user_id in (1510, 1511, 1512, 1513):
            await sent(w, w.resident(user_id), "Глубокая яма на дороге")
        [answer] = await w.official.write("/problems today")
        shown_text = text_of(answer)
        assert "яма" in shown_text and "4" in shown_text, shown_text
