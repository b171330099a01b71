"""The core assembled: dialog, staff desk and category admin over one storage, one set of catalogs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.admin import CategoryAdmin
from bot.core.config import Clock, CoreConfig, utc_now
from bot.core.desk import StaffDesk
from bot.core.dialog import ResidentDialog
from bot.core.locks import Locks
from bot.core.routing import StaffRouting
from bot.text.i18n import Locales
from storage.base import DraftStore, Storage
from storage.photos import PhotoArchive


@dataclass
class Reception:
    """Everything the messenger adapters talk to; built once and passed into the dispatchers."""

    storage: Storage
    locales: Locales
    archive: PhotoArchive
    config: CoreConfig
    dialog: ResidentDialog
    staff: StaffDesk
    admin: CategoryAdmin
    routing: StaffRouting
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        storage: Storage,
        locales: Locales,
        archive: PhotoArchive,
        config: CoreConfig,
        default_answer_hours: int,
        clock: Clock = utc_now,
        drafts: DraftStore | None = None,
        locks: Locks | None = None,
    ) -> Reception:
        """Wire the services together; `on_enqueue` listeners are told when something was queued."""
        listeners: list[Callable[[], None]] = []

        def notify() -> None:
            for listener in listeners:
                listener()

        routing = StaffRouting(storage, config.staff_chat_id)
        return cls(
            storage=storage,
            locales=locales,
            archive=archive,
            config=config,
            dialog=ResidentDialog(storage, locales, config, clock, notify, routing, drafts, locks),
            staff=StaffDesk(storage, locales, config, clock, notify, locks),
            admin=CategoryAdmin(storage, config, default_answer_hours, routing),
            routing=routing,
            _listeners=listeners,
        )

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the core queues messages (the delivery worker wakes up)."""
        self._listeners.append(listener)
