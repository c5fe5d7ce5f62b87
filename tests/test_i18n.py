"""Translations: complete, not fuzzy, placeholders intact, and the template up to date."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.i18n import Catalogs, choose_language, supported_language

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")
KEYWORDS = ["-k", "tr", "-k", "N_", "-k", "ngettext:1,2", "-k", "pgettext:1c,2"]


def load(language: str):  # type: ignore[no-untyped-def]
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=language)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def fresh_template(tmp_path: Path) -> set[str]:
    out = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), *KEYWORDS,
         "-o", str(out), str(ROOT / "bot")]
    )  # fmt: skip
    with out.open("rb") as fp:
        return {_key(m) for m in read_po(fp) if m.id}


def _key(message) -> str:  # type: ignore[no-untyped-def]
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return f"{message.context or ''}\x04{msgid}"


@pytest.mark.parametrize("language", ["ru", "uz"])
def test_every_message_is_translated_and_not_fuzzy(language: str, tmp_path: Path) -> None:
    catalog = load(language)
    expected = fresh_template(tmp_path)
    present = {_key(m) for m in catalog if m.id}
    missing = expected - present
    assert not missing, f"{language}: not in the catalog (run make extract): {sorted(missing)}"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {message.id!r}")
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in strings:
            if placeholders(text) != placeholders(ids[-1]):
                problems.append(f"placeholders differ: {ids[-1]!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_russian_has_three_plural_forms() -> None:
    catalog = load("ru")
    assert catalog.num_plurals == 3
    minutes = Catalogs().get("ru")
    words = [minutes.ngettext("{n} minute", "{n} minutes", n).format(n=n) for n in (1, 3, 5, 21)]
    assert words[0] != words[1] != words[2] and words[0].split()[1] == words[3].split()[1]


def test_uzbek_is_latin_script_with_the_right_apostrophes() -> None:
    for message in load("uz"):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert not re.search(r"[А-Яа-яЁё]", text), text
            assert not re.search(r"[oOgG]['‘`’]", text), f"use ʻ (U+02BB): {text!r}"


def test_catalogs_compile_in_memory_when_mo_files_are_missing(tmp_path: Path) -> None:
    copy = tmp_path / "locales"
    shutil.copytree(LOCALES, copy, ignore=shutil.ignore_patterns("*.mo"))
    for folder in copy.glob("*/LC_MESSAGES"):
        folder.chmod(0o555)  # not writable: must still work
    try:
        catalogs = Catalogs(copy)
        assert catalogs.get("ru")("Today") != "Today"
    finally:
        for folder in copy.glob("*/LC_MESSAGES"):
            folder.chmod(0o755)


@pytest.mark.parametrize(
    ("stored", "telegram", "expected"),
    [
        (None, "ru-RU", "ru"),
        (None, "uz", "uz"),
        (None, "kk", "en"),
        (None, None, "en"),
        ("uz", "ru", "uz"),
        (None, "EN_us", "en"),
    ],
)
def test_language_choice_order(stored: str | None, telegram: str | None, expected: str) -> None:
    assert choose_language(stored, telegram) == expected


def test_supported_language_rejects_junk() -> None:
    assert supported_language("") is None
    assert supported_language("xx-yy") is None
