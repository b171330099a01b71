"""The gettext catalogs: the template matches the code, ru and en are complete and consistent, the .mo files are fresh.

Most failures here are fixed by `bash scripts/locales.sh all`, translating the new (empty) entries of
locales/ru/LC_MESSAGES/priemnaya.po, and `bash scripts/locales.sh compile`.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.text.i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, Locales

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
POT = LOCALES / f"{DOMAIN}.pot"
SCRIPT = ROOT / "scripts" / "locales.sh"

FIX_ALL = (
    "run `bash scripts/locales.sh all`, translate the empty entries of locales/ru/LC_MESSAGES/priemnaya.po, "
    "then run `bash scripts/locales.sh compile`"
)
FIX_COMPILE = "run `bash scripts/locales.sh compile` (or `bash scripts/locales.sh all`)"

_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_COMMAND = re.compile(r"(?<![\w</])/[a-z][a-z_]*")


def _pybabel() -> str:
    beside = Path(sys.executable).with_name("pybabel")
    if beside.exists():
        return str(beside)
    found = shutil.which("pybabel")
    if found is None:
        pytest.fail("pybabel not found: install the dev dependencies (babel) into the virtualenv")
    return found


def _read_po(path: Path, locale: str | None = None) -> Catalog:
    if not path.exists():
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        pytest.fail(f"{shown} is missing; {FIX_ALL}")
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _mo_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _ids(catalog: Catalog) -> set[str]:
    return {m.id for m in catalog if m.id and isinstance(m.id, str)}


def _listing(ids: set[str] | list[str]) -> str:
    return "".join(f"\n  {i!r}" for i in sorted(ids))


def _placeholders(text: str) -> set[str]:
    """The `{field!conversion:spec}` placeholders str.format fills in (ValueError for a broken brace)."""
    found = set()
    for _literal, field, spec, conversion in string.Formatter().parse(text):
        if field is not None:
            found.add("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return found


@pytest.fixture(scope="module")
def template() -> Catalog:
    return _read_po(POT)


@pytest.fixture(scope="module", params=LANGUAGES)
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_template_is_current(tmp_path: Path) -> None:
    """(a) Extracting the code again gives the same msgids as the committed template."""
    fresh = tmp_path / f"{DOMAIN}.pot"
    env = {**os.environ, "PYBABEL": _pybabel(), "PYTHON": sys.executable, "POT": str(fresh)}
    result = subprocess.run(
        ["bash", str(SCRIPT), "extract"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"scripts/locales.sh extract failed:\n{result.stdout}\n{result.stderr}"
    extracted = _ids(_read_po(fresh))
    committed = _ids(_read_po(POT))
    new = extracted - committed
    gone = committed - extracted
    assert not new and not gone, (
        f"locales/priemnaya.pot does not match the code; {FIX_ALL}."
        + (f"\nStrings in the code but not in the template:{_listing(new)}" if new else "")
        + (f"\nStrings in the template but no longer in the code:{_listing(gone)}" if gone else "")
    )


def test_catalog_is_complete(template: Catalog, lang: str) -> None:
    """(b) Every msgid of the template has a non-empty, non-fuzzy translation, and nothing else is there."""
    catalog = _read_po(_po_path(lang), lang)
    assert not catalog.fuzzy, (
        f"the header of locales/{lang}/LC_MESSAGES/priemnaya.po is marked '#, fuzzy' (pybabel would not compile "
        f"it): remove the flag, then {FIX_COMPILE}"
    )
    untranslated = []
    fuzzy = []
    for msgid in sorted(_ids(template)):
        message = catalog.get(msgid)
        if message is None or not message.string:
            untranslated.append(msgid)
        elif message.fuzzy:
            fuzzy.append(msgid)
    extra = _ids(catalog) - _ids(template)
    assert not untranslated and not fuzzy and not extra, (
        f"locales/{lang}/LC_MESSAGES/priemnaya.po is not complete; {FIX_ALL}."
        + (f"\nNo translation:{_listing(untranslated)}" if untranslated else "")
        + (f"\nMarked fuzzy (check the translation, then drop the flag):{_listing(fuzzy)}" if fuzzy else "")
        + (f"\nNot in the template (stale):{_listing(extra)}" if extra else "")
    )


def test_russian_catalog_header() -> None:
    """The Russian catalog declares its language and Russian's three plural forms."""
    catalog = _read_po(_po_path("ru"), "ru")
    assert str(catalog.locale) == "ru"
    assert catalog.num_plurals == 3, f"wrong Plural-Forms for Russian: {catalog.plural_forms}"


def test_translations_keep_placeholders_tags_and_commands(lang: str) -> None:
    """(c) A translation keeps the msgid's {placeholders}, HTML tags and /commands."""
    catalog = _read_po(_po_path(lang), lang)
    problems = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        msgid, msgstr = str(message.id), str(message.string)
        try:
            if _placeholders(msgid) != _placeholders(msgstr):
                problems.append(
                    f"{msgid!r}: placeholders {sorted(_placeholders(msgid))} became {sorted(_placeholders(msgstr))}"
                )
        except ValueError as exc:
            problems.append(f"{msgid!r}: the translation is not a valid format string ({exc}): {msgstr!r}")
        tags, tags_translated = Counter(_HTML_TAG.findall(msgid)), Counter(_HTML_TAG.findall(msgstr))
        if tags != tags_translated:
            problems.append(
                f"{msgid!r}: HTML tags {sorted(tags.elements())} became {sorted(tags_translated.elements())}"
            )
        commands, commands_translated = Counter(_COMMAND.findall(msgid)), Counter(_COMMAND.findall(msgstr))
        if commands != commands_translated:
            problems.append(
                f"{msgid!r}: commands {sorted(commands.elements())} became {sorted(commands_translated.elements())}"
            )
    assert not problems, (
        f"fix these translations in locales/{lang}/LC_MESSAGES/priemnaya.po, then {FIX_COMPILE}:\n  "
        + "\n  ".join(problems)
    )


def test_compiled_catalog_is_fresh(lang: str) -> None:
    """(d) The .mo the bot loads holds exactly the translations of the .po."""
    po = _read_po(_po_path(lang), lang)
    mo_path = _mo_path(lang)
    assert mo_path.exists(), f"locales/{lang}/LC_MESSAGES/priemnaya.mo is missing; {FIX_COMPILE}"
    with mo_path.open("rb") as f:
        mo = read_mo(f)
    expected = {m.id: m.string for m in po if m.id and m.string and not m.fuzzy}
    compiled = {m.id: m.string for m in mo if m.id}
    changed = sorted(str(i) for i in expected.keys() & compiled.keys() if expected[i] != compiled[i])
    missing = sorted(str(i) for i in expected.keys() - compiled.keys())
    stale = sorted(str(i) for i in compiled.keys() - expected.keys())
    assert not changed and not missing and not stale, (
        f"locales/{lang}/LC_MESSAGES/priemnaya.mo is stale; {FIX_COMPILE}."
        + (f"\nTranslated differently in the .po:{_listing(changed)}" if changed else "")
        + (f"\nIn the .po but not in the .mo:{_listing(missing)}" if missing else "")
        + (f"\nIn the .mo but not in the .po:{_listing(stale)}" if stale else "")
    )


def test_bot_loads_the_catalogs() -> None:
    """(e) bot.i18n.Locales: Russian for "ru" and for unknown languages, English for "en"."""
    locales = Locales()
    ru, en = locales.get("ru"), locales.get("en")
    assert DEFAULT_LANGUAGE == "ru"
    assert en("New report") == "New report"
    assert ru("New report") != "New report", f"the Russian catalog is not loaded or not translated; {FIX_ALL}"
    assert locales.get("xx")("New report") == ru("New report")
    taken = "Report #{number} is taken into work by {name}."
    assert en(taken).format(number=7, name="Oleg") == "Report #7 is taken into work by Oleg."
    assert ru(taken) != taken
    assert "7" in ru(taken).format(number=7, name="Oleg")
