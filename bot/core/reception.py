"""The core assembled: the resident's dialog, the officials' desk, category admin and rerouting over one storage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.admin import CategoryAdmin, ChatProbe
from bot.core.casework import Casework
from bot.core.config import Clock, CoreConfig, utc_now
from bot.core.conversation import Conversation
from bot.core.deadlines import Deadlines
from bot.core.desk import Desk
from bot.core.dialog import ResidentDialog
from bot.core.guard import Bans, Gatekeeper
from bot.core.locks import KeyedLocks, Locks
from bot.core.posting import Posting
from bot.core.privacy import PhotoEraser, Privacy
from bot.core.reminders import Reminders
from bot.core.replies import Composers
from bot.core.rerouting import Rerouting
from bot.core.routing import StaffRouting
from bot.core.stats import Statistics
from bot.core.summary import DailySummary
from bot.core.weekly import Pictures, WeeklySummary
from bot.text.i18n import Locales
from storage.base import DraftStore, Storage


@dataclass
class Reception:
    """Everything the messenger adapters and the delivery worker talk to; built once and passed in."""

    storage: Storage
    locales: Locales
    config: CoreConfig
    dialog: ResidentDialog
    desk: Desk
    admin: CategoryAdmin
    routing: StaffRouting
    rerouting: Rerouting
    posting: Posting
    privacy: Privacy
    reminders: Reminders
    summary: DailySummary
    stats: Statistics
    weekly: WeeklySummary
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        storage: Storage,
        locales: Locales,
        config: CoreConfig,
        composers: Composers,
        probe: ChatProbe,
        clock: Clock = utc_now,
        drafts: DraftStore | None = None,
        locks: Locks | None = None,
        report_locks: Locks | None = None,
        photos: PhotoEraser | None = None,
        pictures: Pictures | None = None,
    ) -> Reception:
        """Wire the services together; `on_enqueue` listeners are told when something was queued.

        `locks` serialise each resident's steps, `report_locks` the changes of each report (Redis locks when
        several processes share the work; in-process ones otherwise). `photos`: where erased residents' photos are
        deleted from; `pictures`: where the weekly summary's chart is kept for delivery (no chart without it).
        """
        listeners: list[Callable[[], None]] = []

        def notify() -> None:
            for listener in listeners:
                listener()

        routing = StaffRouting(storage, config.staff_chat)
        posting = Posting(storage, composers, locales, config, routing)
        staff_ = locales.get(config.staff_language)
        report_locks = report_locks or KeyedLocks()
        # One calendar of working days (and its cache) for filing, moving and reopening alike.
        deadlines = Deadlines(config)
        casework = Casework(storage, posting, routing, config, clock, report_locks, notify, deadlines)
        conversation = Conversation(storage, casework, clock)
        privacy = Privacy(storage, drafts or storage, posting, routing, config, clock, report_locks, notify, photos)
        gate = Gatekeeper(storage, config.limits, clock)
        bans = Bans(storage, posting, routing, clock, notify, staff_)
        stats = Statistics(storage, config, routing, locales, clock)
        return cls(
            storage=storage,
            locales=locales,
            config=config,
            dialog=ResidentDialog(
                storage,
                locales,
                config,
                clock,
                notify,
                routing,
                posting,
                conversation,
                privacy,
                gate,
                drafts,
                locks,
                deadlines=deadlines,
            ),
            desk=Desk(storage, casework, bans, routing, clock, staff_),
            admin=CategoryAdmin(storage, config, routing, probe, staff_),
            routing=routing,
            rerouting=Rerouting(storage, posting, routing, config, clock),
            posting=posting,
            privacy=privacy,
            reminders=Reminders(storage, posting, routing, clock, notify),
            summary=DailySummary(storage, posting, routing, config, clock, notify),
            stats=stats,
            weekly=WeeklySummary(storage, posting, routing, config, clock, notify, stats, pictures),
            _listeners=listeners,
        )

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the core queues messages (the delivery worker wakes up)."""
        self._listeners.append(listener)
