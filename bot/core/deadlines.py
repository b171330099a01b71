"""A report's terms as due times: computed from its category when it is filed, moved or reopened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.config import CoreConfig
from bot.core.models import TERMS, Category, Dues, Report, Stage, alert_bit
from bot.core.workdays import WorkCalendar


class Deadlines:
    """Due times on the deployment's working calendar (Russia's holidays, regional days off, working hours)."""

    def __init__(self, config: CoreConfig) -> None:
        rules = config.terms
        self.calendar = WorkCalendar(config.tz, rules.days_off, rules.work_hours)
        self._remind_at = rules.remind_at

    def dues(self, category: Category, start: datetime) -> Dues:
        """The due times of a report in `category` whose terms start at `start`."""
        return Dues(
            start=start,
            take=self.calendar.after_hours(start, category.take_hours),
            answer=self.calendar.after_hours(start, category.answer_hours),
            resolve=self.calendar.after_working_days(start, category.resolve_days),
            remind_at=self._remind_at,
        )

    def restart(self, category: Category, at: datetime) -> dict[str, Any]:
        """The report's fields when its terms start again (reopened): new due times, nothing done, nobody reminded."""
        return {"dues": self.dues(category, at), "taken_at": None, "answered_at": None, "reminded": 0}

    def move(self, report: Report, category: Category) -> dict[str, Any]:
        """The report's fields in its new category: due times from the same start; reminders of changed terms again."""
        dues = self.dues(category, report.dues.start)
        reminded = report.reminded
        for term in TERMS:
            if dues.of(term) != report.dues.of(term):
                reminded &= ~(alert_bit(term, Stage.NEAR) | alert_bit(term, Stage.OVER))
        return {"dues": dues, "reminded": reminded}
