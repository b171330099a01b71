"""Gettext catalogs from `locales/`: Russian by default, English complete."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from pathlib import Path

DOMAIN = "priemnaya"
LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"

Gettext = Callable[[str], str]


def pick_language(code: str | None) -> str:
    """Map a messenger's language code (`en-GB`, `ru`, None) to one of ours."""
    if code:
        base = code.split("-")[0].split("_")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE


class Locales:
    """Loaded catalogs, one per language; built once and passed to whoever renders text."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self._catalogs: dict[str, gettext.NullTranslations] = {}
        for lang in LANGUAGES:
            # fallback=False: a missing catalog is a packaging error, not something to hide.
            self._catalogs[lang] = gettext.translation(DOMAIN, directory, languages=[lang])

    def get(self, language: str) -> Gettext:
        """The gettext function of a language (unknown languages get the default)."""
        catalog = self._catalogs.get(language) or self._catalogs[DEFAULT_LANGUAGE]
        return catalog.gettext

    def language_of(self, _: Gettext) -> str:
        """The language whose gettext function `_` is (the default one for any other function)."""
        for language, catalog in self._catalogs.items():
            if _ == catalog.gettext:
                return language
        return DEFAULT_LANGUAGE


def mark(text: str) -> str:
    """Mark a string for extraction without translating it now (translated where shown)."""
    return text
