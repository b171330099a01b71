"""Names shown for statuses and built-in categories, translated where shown."""

from __future__ import annotations

from bot.core.models import Category, Status
from bot.text.i18n import Gettext, mark

_CATEGORY_LABELS = {
    "roads": mark("Roads"),
    "housing": mark("Housing and utilities"),
    "yards": mark("Yards and landscaping"),
    "transport": mark("Public transport"),
    "healthcare": mark("Healthcare"),
    "other": mark("Other"),
}

_STATUS_LABELS = {
    Status.DRAFT: mark("Draft"),
    Status.NEW: mark("New"),
    Status.IN_PROGRESS: mark("In progress"),
    Status.REOPENED: mark("Reopened"),
    Status.RESOLVED: mark("Resolved"),
    Status.REJECTED: mark("Rejected"),
    Status.DUPLICATE: mark("Duplicate"),
}


def category_name(category: Category | None, _: Gettext) -> str:
    """A category's name in the reader's language (plain text, not escaped)."""
    if category is None:
        return _("Unknown category")
    if category.builtin_key in _CATEGORY_LABELS:
        return _(_CATEGORY_LABELS[category.builtin_key])
    return category.name


def status_label(status: Status, _: Gettext) -> str:
    """A status in the reader's language."""
    return _(_STATUS_LABELS[status])
