"""What officials read about a report: its card, which stays current, and its history, in the staff chat's language."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.core import actions
from bot.core.models import (
    TERMS,
    Button,
    Buttons,
    Category,
    Event,
    EventKind,
    Messenger,
    Report,
    Stage,
    Status,
    Term,
    Verdict,
)
from bot.text.formatting import moment, place
from bot.text.i18n import Gettext
from bot.text.labels import category_name, status_label
from bot.text.rich import Rich, bold, fill, italic, lines, shrinkable

MESSENGER_NAMES = {Messenger.TELEGRAM: "Telegram", Messenger.VK: "VK"}
HISTORY_TEXT_MAX = 200


@dataclass(frozen=True, slots=True)
class CardFacts:
    """Everything a card shows: the report, its category, and what other records say about it."""

    report: Report
    category: Category | None
    # Residents whose reports were marked duplicates of this one.
    waiting: int = 0
    # The card stays behind in a chat the report moved away from: the category it moved to.
    moved_to: Category | None = None
    # The resident's record: reports filed (this one included), how many were rejected, whether they are banned.
    filed: int = 0
    rejected: int = 0
    banned: bool = False


def card_text(facts: CardFacts, _: Gettext, tz: ZoneInfo) -> Rich:
    """The card: number, category, status and who took it, place, description, resident, times, follow-ups."""
    report = facts.report
    title = bold(fill(_("Report #{number}"), number=report.id))
    status = status_label(report.status, _)
    if report.assignee_name and not facts.moved_to:
        status_line = fill(_("Status: {status} · taken by {name}"), status=status, name=report.assignee_name)
    else:
        status_line = fill(_("Status: {status}"), status=status)
    parts: list[Rich | str] = [
        fill(_("{title} · {category}"), title=title, category=category_name(facts.category, _)),
        status_line,
    ]
    if facts.moved_to is not None:
        parts.append(
            bold(
                fill(
                    _("Moved to {category}: it is handled in that category's chat now."),
                    category=category_name(facts.moved_to, _),
                )
            )
        )
    if report.duplicate_of is not None:
        parts.append(
            bold(fill(_("Duplicate of #{number}: residents get that report's answers."), number=report.duplicate_of))
        )
    parts += [
        fill(_("Place: {place}"), place=place(report.location)),
        "",
        shrinkable(report.description),
        "",
        *_resident_lines(facts, _),
        fill(
            _("Received: {received} · answer by: {due}"),
            received=moment(report.created_at, tz),
            due=moment(report.answer_due_at, tz),
        ),
        *_term_lines(report, _, tz),
    ]
    if report.follow_ups:
        parts.append(fill(_("Messages from the resident since: {count}"), count=report.follow_ups))
    if facts.waiting:
        parts.append(fill(_("Residents waiting on it (duplicates): {count}"), count=facts.waiting))
    if report.status.open and facts.moved_to is None:
        parts += [
            "",
            italic(_("Reply to this card to answer the resident; /resolve TEXT with an after photo; /reject REASON.")),
        ]
    return lines(*parts)


def term_label(term: Term, _: Gettext) -> str:
    """What a term is called in the staff chat's language."""
    labels = {Term.TAKE: _("taking into work"), Term.ANSWER: _("first answer"), Term.RESOLVE: _("resolution")}
    return labels[term]


def _term_lines(report: Report, _: Gettext, tz: ZoneInfo) -> list[Rich | str]:
    """The other terms while they run, each overdue one in bold, and the resident's verdict."""
    parts: list[Rich | str] = []
    if report.status.open:
        parts.append(
            fill(
                _("Take into work by: {take} · resolve by: {resolve}"),
                take=moment(report.dues.take, tz) if report.running(Term.TAKE) else "✓",
                resolve=moment(report.dues.resolve, tz),
            )
        )
    for term in TERMS:
        if report.overdue(term):
            parts.append(
                bold(
                    fill(
                        _("⚠ Overdue: {term} was due {due}"),
                        term=term_label(term, _),
                        due=moment(report.dues.of(term), tz),
                    )
                )
            )
    if report.verdict is Verdict.FIXED:
        parts.append(_("The resident confirmed: fixed."))
    elif report.verdict is Verdict.NOT_FIXED:
        parts.append(bold(_("The resident says: not fixed.")))
    if report.rating is not None:
        parts.append(fill(_("The resident's rating of the answer: {rating} of 5"), rating=report.rating))
    return parts


def _resident_lines(facts: CardFacts, _: Gettext) -> list[Rich | str]:
    """Who sent it and their record; for an erased resident, that nobody reads the answers."""
    report = facts.report
    messenger = MESSENGER_NAMES[report.resident.messenger]
    if report.anonymous:
        if report.status.open:
            return [
                bold(fill(_("The resident withdrew consent ({messenger}): answers go to no one."), messenger=messenger))
            ]
        return [fill(_("From: personal data erased ({messenger})"), messenger=messenger)]
    parts: list[Rich | str] = [
        fill(_("From: {name} ({messenger})"), name=report.resident_name, messenger=messenger),
    ]
    if facts.filed:
        parts.append(
            fill(
                _("Reports from this resident: {filed}, rejected: {rejected}"),
                filed=facts.filed,
                rejected=facts.rejected,
            )
        )
    if facts.banned:
        parts.append(bold(_("The resident is banned: their messages reach no one (/unban).")))
    return parts


def card_buttons(facts: CardFacts, _: Gettext) -> Buttons:
    """The actions that make sense now: open reports can be worked on, closed ones only looked up."""
    report = facts.report
    if facts.moved_to is not None:
        return ()
    history = (Button(_("History"), actions.staff("history", report.id)),)
    if not report.status.open:
        return (history,)
    take = _("Take over") if report.status is Status.IN_PROGRESS and report.assignee else _("Take into work")
    return (
        (Button(take, actions.staff("take", report.id)),),
        (
            Button(_("Resolve"), actions.staff("resolve", report.id)),
            Button(_("Reject"), actions.staff("reject", report.id)),
        ),
        history,
    )


def event_label(kind: EventKind, _: Gettext) -> str:
    """What an event is called in the staff chat's language."""
    labels = {
        EventKind.CREATED: _("sent by the resident"),
        EventKind.TAKEN: _("taken into work"),
        EventKind.REASSIGNED: _("taken over"),
        EventKind.ANSWERED: _("answered"),
        EventKind.FOLLOWED_UP: _("the resident wrote"),
        EventKind.RESOLVED: _("resolved"),
        EventKind.REJECTED: _("rejected"),
        EventKind.REOPENED: _("reopened"),
        EventKind.MOVED: _("moved to another category"),
        EventKind.DUPLICATE_LINKED: _("marked as a duplicate"),
        EventKind.DUPLICATE_JOINED: _("a duplicate joined"),
        EventKind.REROUTED: _("card moved to the default staff chat"),
        EventKind.DELIVERY_FAILED: _("message not delivered"),
        EventKind.CONSENT_WITHDRAWN: _("the resident withdrew consent; their personal data are erased"),
        EventKind.ANONYMISED: _("personal data erased after the retention period"),
        EventKind.BANNED: _("the resident is banned"),
        EventKind.UNBANNED: _("the resident's ban is lifted"),
        EventKind.REMINDED: _("officials reminded of a term"),
        EventKind.CONFIRMED: _("the resident confirmed it is fixed"),
        EventKind.RATED: _("the resident rated the answer"),
    }
    return labels[kind]


def author_label(event: Event, _: Gettext) -> str:
    """Who did it: the official's name as it was then, the resident, or the bot itself."""
    if event.author.startswith("staff:"):
        return event.author_name or _("an official")
    if event.author == "system":
        return _("the bot")
    return _("the resident")


def history_text(report: Report, history: list[Event], _: Gettext, tz: ZoneInfo) -> Rich:
    """A report's history, one event a line: when, what, who, and its text."""
    parts: list[Rich | str] = [bold(fill(_("History of report #{number}"), number=report.id))]
    for event in history:
        line = f"{moment(event.at, tz)} · {author_label(event, _)} · {event_label(event.kind, _)}"
        if event.kind is EventKind.REMINDED and event.text:
            line += f": {reminder_label(event.text, _)}"
        elif event.text:
            text = event.text if len(event.text) <= HISTORY_TEXT_MAX else event.text[: HISTORY_TEXT_MAX - 1] + "…"
            line += f": {text}"
        if event.photos:
            line += " " + fill(_("({count} photos)"), count=len(event.photos)).plain
        parts.append(line)
    return lines(*parts)


def reminder_label(code: str, _: Gettext) -> str:
    """A reminder's record ("answer:over") in words: "first answer, overdue"."""
    term, _sep, stage = code.partition(":")
    try:
        name = term_label(Term(term), _)
    except ValueError:
        return code
    return fill(_("{term}, overdue") if stage == Stage.OVER.value else _("{term}, due soon"), term=name).plain
