#!/usr/bin/env bash
# The bot's gettext catalogs (domain "priemnaya"; source strings are English, Russian is the default).
#
#   bash scripts/locales.sh extract   # code -> locales/priemnaya.pot
#   bash scripts/locales.sh update    # .pot -> locales/{ru,en}/LC_MESSAGES/priemnaya.po (new entries come empty)
#   bash scripts/locales.sh compile   # .po -> .mo (what the bot loads); fails on catalog errors
#   bash scripts/locales.sh all       # the three above, in order
#
# After `all`, translate the new entries in the ru catalog (the en catalog is filled with the
# English source text by `update`) and run `compile` again. tests/test_locales.py checks all of it.
#
# Environment: PYBABEL (default .venv/bin/pybabel), PYTHON (the interpreter that has babel;
# default: the one next to PYBABEL), POT (the template `extract` writes and `update` reads;
# default locales/priemnaya.pot).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON="$(dirname "$PYBABEL")/python"
    [[ -x "$PYTHON" ]] || PYTHON=python3
fi
POT="${POT:-locales/priemnaya.pot}"
DOMAIN=priemnaya
LOCALES_DIR=locales

extract() {
    local fresh
    fresh="$(mktemp)"
    # `r_` is the resident's gettext in bot/staff.py (the staff chat's is `_`).
    if ! "$PYBABEL" extract -k mark -k _ -k r_ --no-location --sort-output -o "$fresh" bot handlers; then
        rm -f "$fresh"
        return 1
    fi
    # Leave the template (and so the catalogs' headers) alone when only POT-Creation-Date would change.
    if [[ ! -f "$POT" ]] || ! cmp -s <(grep -v '^"POT-Creation-Date:' "$POT") <(grep -v '^"POT-Creation-Date:' "$fresh"); then
        cat "$fresh" >"$POT"
        echo "locales.sh: $POT written"
    else
        echo "locales.sh: $POT is up to date"
    fi
    rm -f "$fresh"
}

update() {
    "$PYBABEL" update -i "$POT" -d "$LOCALES_DIR" -D "$DOMAIN" \
        --no-fuzzy-matching --ignore-obsolete
    # Keep every catalog sorted by msgid (as the template is), and keep the English catalog
    # complete: English is the source language, so a new entry's English text is its msgid.
    "$PYTHON" - "$LOCALES_DIR" "$DOMAIN" <<'EOF'
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

directory, domain = Path(sys.argv[1]), sys.argv[2]
for po_path in sorted(directory.glob(f"*/LC_MESSAGES/{domain}.po")):
    locale = po_path.parent.parent.name
    with po_path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    if locale == "en":
        for message in catalog:
            if message.id and not message.string:
                message.string = message.id
    with po_path.open("wb") as f:
        write_po(f, catalog, sort_output=True, ignore_obsolete=True)
EOF
}

check_placeholders() {
    # pybabel checks %-style formats only; a broken {placeholder} would raise in str.format at runtime.
    "$PYTHON" - "$LOCALES_DIR" "$DOMAIN" <<'EOF'
import string
import sys
from pathlib import Path

from babel.messages.pofile import read_po


def fields(text):
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


directory, domain = Path(sys.argv[1]), sys.argv[2]
bad = []
for po_path in sorted(directory.glob(f"*/LC_MESSAGES/{domain}.po")):
    with po_path.open("rb") as f:
        catalog = read_po(f)
    for message in catalog:
        if not message.id or not message.string or "python-brace-format" not in message.flags:
            continue
        try:
            ok = fields(message.id) == fields(message.string)
        except ValueError:
            ok = False
        if not ok:
            bad.append(f"error: {po_path}:{message.lineno}: {{placeholders}} differ: {message.string!r}")
if bad:
    sys.exit("\n".join(bad))
EOF
}

compile_catalogs() {
    local out
    check_placeholders
    if ! out="$("$PYBABEL" compile -d "$LOCALES_DIR" -D "$DOMAIN" --statistics 2>&1)"; then
        printf '%s\n' "$out" >&2
        echo "locales.sh: compiling failed; fix the errors above in the .po files" >&2
        return 1
    fi
    printf '%s\n' "$out"
    # pybabel silently skips a catalog whose header is marked fuzzy, leaving an old .mo behind.
    if grep -q 'marked as fuzzy, skipping' <<<"$out"; then
        echo "locales.sh: remove the '#, fuzzy' flag from the header of the catalog named above" >&2
        return 1
    fi
}

case "${1:-}" in
    extract) extract ;;
    update) update ;;
    compile) compile_catalogs ;;
    all)
        extract
        update
        compile_catalogs
        ;;
    *)
        echo "usage: bash scripts/locales.sh extract|update|compile|all" >&2
        exit 2
        ;;
esac
