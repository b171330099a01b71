"""Property-based tests: the update readers and the dialog core given arbitrary input.

The readers must turn any payload into an input or a skip, never an exception; the core must keep every draft valid
(stored, loadable, free of invisible characters, within its bounds) and never let unescaped text reach Telegram's HTML.
"""

from __future__ import annotations

import asyncio
import copy
import math
import tempfile
import unicodedata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core import dialog
from bot.core.admin import Probe
from bot.core.config import CoreConfig
from bot.core.dialog import ADDRESS_MAX, ALBUM_LIMIT, DESCRIPTION_MAX, TEXT_MIN
from bot.core.models import ChatRef, Messenger, ResidentProfile
from bot.core.reception import Reception
from bot.core.replies import Reply
from bot.text.clean import NAME_MAX, visible
from bot.text.i18n import Locales
from bot.text.rich import Rich
from handlers.telegram.compose import TelegramComposer
from handlers.telegram.people import resident_of
from handlers.telegram.render import to_html, to_plain
from handlers.telegram.resident import input_of, resident_step
from handlers.telegram.updates import CALLBACK_DATA_LIMIT, TEXT_BOUND, TgUpdate
from handlers.vk.compose import VkComposer
from handlers.vk.updates import IncomingMessage, IncomingPress, parse_message_event, parse_message_new
from storage.photos import PhotoArchive
from storage.sqlite import SqliteStorage
from tests.harness import STAFF_CHAT, photo_bytes
from tests.tg_emulator.html_check import parse_html

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Characters that break things when mishandled: HTML specials, bidi and zero-width controls, line separators.
TRICKY = "<>&\"'\u200b\u200c\u200d\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
TRICKY += "\x00\x07\r\n\t\u2028\u2029\u00ad 👨👩👧"
tricky_text = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(), max_size=60)
texts = st.one_of(st.text(max_size=40), tricky_text)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300), st.floats(), texts, st.just("")
)
KEYS = ["message", "from", "chat", "id", "type", "text", "caption", "location", "latitude", "longitude", "data"]
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner),
    max_leaves=20,
)


def mutated(value: Any) -> st.SearchStrategy[Any]:
    """A real payload with any of its fields kept, dropped, or replaced by anything JSON can hold."""
    if isinstance(value, dict):
        fields = {k: mutated(v) for k, v in value.items()}
        return st.fixed_dictionaries(fields) | st.fixed_dictionaries({}, optional=fields) | json_value
    if isinstance(value, list):
        return (st.lists(mutated(value[0]), max_size=3) if value else st.nothing()) | json_value
    similar: st.SearchStrategy[Any]
    if isinstance(value, bool):
        similar = st.booleans()
    elif isinstance(value, int):
        similar = st.integers()
    elif isinstance(value, float):
        similar = st.floats()
    else:
        similar = texts
    return st.just(value) | similar | json_value


USER = {"id": 1001, "is_bot": False, "first_name": "Ivan", "last_name": "Petrov", "language_code": "en"}
CHAT = {"id": 1001, "type": "private", "first_name": "Ivan"}
TG_UPDATES = [
    {"update_id": 1, "message": {"message_id": 5, "date": 0, "chat": CHAT, "from": USER, "text": "Pothole"}},
    {
        "update_id": 2,
        "message": {
            "message_id": 6,
            "date": 0,
            "chat": CHAT,
            "from": USER,
            "venue": {"location": {"latitude": 55.7, "longitude": 37.6}, "title": "Park", "address": "Mira 1"},
            "reply_to_message": {"message_id": 3, "date": 0, "from": {"id": 9, "is_bot": True, "first_name": "B"}},
        },
    },
    {"update_id": 3, "message": {"message_id": 7, "date": 0, "chat": CHAT, "from": USER, "location": {"latitude": 1}}},
    {
        "update_id": 4,
        "callback_query": {
            "id": "c1",
            "from": USER,
            "chat_instance": "x",
            "data": "r.cat.1",
            "message": {"message_id": 8, "date": 0, "chat": CHAT},
        },
    },
    {"update_id": 5, "edited_message": {"message_id": 5, "date": 0, "chat": CHAT, "from": USER, "text": "edit"}},
]
VK_MESSAGE = {
    "message": {
        "id": 10,
        "from_id": 2001,
        "peer_id": 2001,
        "text": "Pothole",
        "payload": '{"a":"r.new"}',
        "attachments": [
            {"type": "photo", "photo": {"sizes": [{"url": "https://vk.test/1.jpg", "width": 10, "height": 5}]}}
        ],
        "geo": {"coordinates": {"latitude": 55.7, "longitude": 37.6}, "place": {"title": "Park", "address": "Mira"}},
        "reply_message": {"id": 3, "from_id": -7001, "date": 1700000000},
    },
    "client_info": {"button_actions": ["text", "callback"], "inline_keyboard": True, "lang_id": 3},
}
VK_EVENT = {"user_id": 2001, "peer_id": 2001, "event_id": "e1", "payload": {"a": "r.send"}}


def clean(text: str) -> bool:
    """No invisible or direction-control character (a joiner inside an emoji sequence aside), nothing to trim."""
    return text == visible(text) and all(
        unicodedata.category(c) not in ("Cf", "Cc", "Cs") or c in "\n\t\u200d" for c in text
    )


def check_telegram(raw: Any) -> None:
    """Read an update as the residents' lane does; only a validation error (the skip path) may come out."""
    try:
        update = TgUpdate.model_validate(raw)
    except ValidationError:
        return
    if not resident_step(update):
        return
    if update.callback_query is not None:
        press = update.callback_query
        profile = resident_of(press.from_user)
        assert press.data is None or len(press.data.encode(errors="replace")) <= CALLBACK_DATA_LIMIT
    else:
        message = update.message or update.edited_message
        assert message is not None and message.from_user is not None
        profile = resident_of(message.from_user)
        event = input_of(message)
        assert message.text is None or len(message.text) <= TEXT_BOUND
        assert message.caption is None or len(message.caption) <= TEXT_BOUND
        if isinstance(event, dialog.Place):
            assert isinstance(event.latitude, float) and isinstance(event.longitude, float)
    assert profile.display_name and clean(profile.display_name) and len(profile.display_name) <= NAME_MAX


@FAST
@given(st.one_of(json_value, *(mutated(u) for u in TG_UPDATES)))
def test_telegram_reader_takes_anything(raw: Any) -> None:
    check_telegram(raw)


@FAST
@given(st.sampled_from(TG_UPDATES), st.sampled_from(["text", "caption", "first_name", "data"]), tricky_text)
def test_telegram_reader_bounds_and_cleans_fields(base: dict[str, Any], field: str, value: str) -> None:
    raw = copy.deepcopy(base)
    inner = raw.get("message") or raw.get("callback_query") or raw["edited_message"]
    if field == "first_name":
        inner["from"] = {**USER, "first_name": value * 50}
    else:
        inner[field] = value * 2000
    check_telegram(raw)


def check_vk(obj: Any, event: bool) -> None:
    result = parse_message_event(obj) if event else parse_message_new(obj)
    if isinstance(result, IncomingMessage):
        assert result.user_id > 0
        if isinstance(result.event, dialog.Text):
            assert len(result.event.text) <= TEXT_BOUND
        if isinstance(result.event, dialog.Place):
            assert math.isfinite(result.event.latitude) and math.isfinite(result.event.longitude)
        assert all(u.startswith(("http://", "https://")) for u in result.photo_urls)
    else:
        assert result is None or isinstance(result, IncomingPress)


@FAST
@given(st.one_of(json_value, mutated(VK_MESSAGE)))
def test_vk_message_reader_takes_anything(obj: Any) -> None:
    check_vk(obj, event=False)


@FAST
@given(st.one_of(json_value, mutated(VK_EVENT)))
def test_vk_event_reader_takes_anything(obj: Any) -> None:
    check_vk(obj, event=True)


VK_PATHS = [
    ("message", "text"),
    ("message", "payload"),
    ("message", "attachments"),
    ("message", "geo"),
    ("message", "geo", "coordinates", "latitude"),
    ("message", "geo", "coordinates", "longitude"),
    ("message", "geo", "place"),
    ("message", "reply_message"),
    ("client_info",),
    ("client_info", "button_actions"),
]


@FAST
@given(st.sampled_from(VK_PATHS), json_value | st.just("[" * 100_000))
def test_vk_message_reader_takes_anything_in_any_field(path: tuple[str, ...], value: Any) -> None:
    obj = copy.deepcopy(VK_MESSAGE)
    if path != ("message", "payload"):
        del obj["message"]["payload"]  # a button's payload is read first: without it the other fields are
    inner = obj
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    check_vk(obj, event=False)
    attachments = obj["message"].pop("attachments")
    check_vk(obj, event=False)  # without photos, the geo and the text are read too
    obj["message"]["attachments"] = [{"type": value}, attachments]
    check_vk(obj, event=False)


# The dialog core, driven directly with arbitrary inputs.

ACTIONS = [
    "r.new",
    "r.my",
    "r.send",
    "r.cancel",
    "r.nophoto",
    "r.fresh",
    "r.about.1",
    "r.about.2",
    "r.edit.category",
    "r.edit.description",
    "r.edit.location",
    "r.edit.photos",
    *(f"r.cat.{i}" for i in range(1, 9)),
]
coordinates = st.one_of(st.floats(), st.floats(-90, 90), st.just(0.0), st.just(-0.0), st.just(1e-9))
long_text = st.builds(
    lambda c, n: c * n, st.sampled_from(["a", "я", "<", "\u200b", "👨\u200d👩"]), st.integers(0, 2100)
)
inputs = st.one_of(
    st.sampled_from(
        [
            dialog.Start(),
            dialog.Help(),
            dialog.NewReport(),
            dialog.MyReports(),
            dialog.Cancel(),
            dialog.Unsupported(),
            dialog.UnknownCommand(),
            dialog.Edited(),
            dialog.Failed(),
        ]
    ),
    st.builds(dialog.Text, texts | long_text | st.sampled_from(["Pothole near the school", "Mira 1 <b>&amp;"])),
    st.builds(dialog.Press, st.none() | texts | st.sampled_from(ACTIONS)),
    st.builds(dialog.Place, coordinates, coordinates, st.none() | texts | long_text),
    st.builds(
        dialog.Photos, st.lists(st.integers(0, 11), min_size=1, max_size=12).map(tuple), st.none() | texts
    ),  # indexes into the archived photos, mapped below
)


def check_html(text: Rich) -> None:
    """The Telegram rendering is valid HTML (strictly: every `<`, `>` and `&` of the text escaped) and says the text."""
    html = to_html(text, 4096)
    plain, _entities = parse_html(html, strict=True)
    assert plain == to_plain(text, 4096)


async def run_dialog(steps: list[dialog.ResidentInput], name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        storage = await SqliteStorage.open(Path(tmp) / "bot.sqlite3")
        try:
            archive = PhotoArchive(Path(tmp) / "photos")
            digests = [await archive.put(photo_bytes(i)) for i in range(12)]
            config = CoreConfig(ChatRef(Messenger.TELEGRAM, STAFF_CHAT), "en", ZoneInfo("Europe/Moscow"), frozenset())

            class NoProbe:
                async def probe(self, chat: ChatRef, text: Rich) -> Probe:
                    return Probe(ok=True)

            reception = Reception.build(
                storage,
                Locales(),
                config,
                {Messenger.TELEGRAM: TelegramComposer(), Messenger.VK: VkComposer()},
                NoProbe(),
            )
            profile = resident_of(type("U", (), {"id": 1001, "full_name": name, "language_code": "en"})())
            assert isinstance(profile, ResidentProfile)

            async def show(replies: list[Reply]) -> list[Reply]:
                return replies

            for step in steps:
                if isinstance(step, dialog.Photos):
                    step = dialog.Photos(tuple(digests[i] for i in step.digests), step.caption)
                for reply in await reception.dialog.handle(profile, step, show):
                    check_html(reply.text)
                    assert all(len(b.action.encode()) <= CALLBACK_DATA_LIMIT for row in reply.buttons for b in row)
                draft = await storage.get_draft(profile.ref)
                if draft is not None:
                    description = draft.description
                    assert description is None or (
                        clean(description) and TEXT_MIN <= len(description) <= DESCRIPTION_MAX
                    )
                    # A text kept while the resident says which report it is about: any length, but visible.
                    assert draft.pending_text is None or (clean(draft.pending_text) and draft.pending_text)
                    if draft.location is not None:
                        location = draft.location
                        assert location.address is None or (clean(location.address) and location.address)
                        assert location.address is None or len(location.address) <= ADDRESS_MAX
                        if location.has_point:
                            assert location.latitude is not None and location.longitude is not None
                            assert -90 <= location.latitude <= 90 and -180 <= location.longitude <= 180
                            assert abs(location.latitude) >= 1e-6 or abs(location.longitude) >= 1e-6
                    assert len(draft.photos) <= ALBUM_LIMIT and set(draft.photos) <= set(digests)
            for message in await storage.peek_outbox(1000):
                if message.messenger is Messenger.TELEGRAM and message.text:
                    parse_html(message.text, strict=True)
            for report in await storage.list_reports(profile.ref, 100):
                assert clean(report.description) and clean(report.resident_name)
        finally:
            await storage.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inputs, max_size=25), st.text(max_size=30) | tricky_text)
def test_dialog_takes_any_sequence_of_inputs(steps: list[dialog.ResidentInput], name: str) -> None:
    asyncio.run(run_dialog(steps, name))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inputs, max_size=12))
def test_dialog_after_a_complete_report(steps: list[dialog.ResidentInput]) -> None:
    """The same, starting from a sent report, so additions and the "about an open report?" question are reached."""
    sent = [
        dialog.NewReport(),
        dialog.Press("r.cat.1"),
        dialog.Text("Pothole near the school gate"),
        dialog.Text("Mira avenue 1"),
        dialog.Photos((0,)),
        dialog.Press("r.send"),
    ]
    asyncio.run(run_dialog([*sent, *sent, *steps], "Ivan Petrov"))
