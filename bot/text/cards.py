"""What officials see: the report card and its history, in the staff chat's language."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.core import actions
from bot.core.models import Button, Category, Event, EventKind, Messenger, Report
from bot.text.formatting import esc, moment, place_html
from bot.text.i18n import Gettext
from bot.text.labels import category_name, status_label

_MESSENGER_NAMES = {Messenger.TELEGRAM: "Telegram", Messenger.VK: "VK"}


def card_text(report: Report, category: Category | None, _: Gettext, tz: ZoneInfo) -> str:
    """The card of a report: number, category, place, description, resident and deadline."""
    lines = [
        _("<b>Report #{number}</b> · {category}").format(number=report.id, category=esc(category_name(category, _))),
        _("Status: {status}").format(status=esc(status_label(report.status, _))),
        _("Place: {place}").format(place=place_html(report.location)),
        "",
        esc(report.description),
        "",
        _("From: {name} ({messenger})").format(
            name=esc(report.resident_name), messenger=_MESSENGER_NAMES[report.resident.messenger]
        ),
        _("Received: {received} · answer by: {due}").format(
            received=moment(report.created_at, tz), due=moment(report.answer_due_at, tz)
        ),
        "",
        "<i>"
        + _("Reply to this card to answer the resident; /resolve TEXT with an after photo; /reject REASON.")
        + "</i>",
    ]
    return "\n".join(lines)


def card_buttons(report: Report, _: Gettext) -> tuple[tuple[Button, ...], ...]:
    """The common actions on a card."""
    return (
        (Button(_("Take into work"), actions.staff("take", report.id)),),
        (
            Button(_("Resolve"), actions.staff("resolve", report.id)),
            Button(_("Reject"), actions.staff("reject", report.id)),
        ),
        (Button(_("History"), actions.staff("history", report.id)),),
    )


def event_label(kind: EventKind, _: Gettext) -> str:
    """What an event is called in the staff chat's language."""
    labels = {
        EventKind.CREATED: _("sent by the resident"),
        EventKind.TAKEN: _("taken into work"),
        EventKind.ANSWERED: _("answered"),
        EventKind.RESOLVED: _("resolved"),
        EventKind.REJECTED: _("rejected"),
        EventKind.DELIVERY_FAILED: _("message not delivered"),
    }
    return labels[kind]


def history_text(report: Report, history: list[Event], _: Gettext, tz: ZoneInfo) -> str:
    """A report's history, one event a line."""
    lines = [_("<b>History of report #{number}</b>").format(number=report.id)]
    for event in history:
        line = f"{moment(event.at, tz)} · {esc(event_label(event.kind, _))}"
        if event.text:
            line += f": {esc(event.text[:200])}"
        lines.append(line)
    return "\n".join(lines)
