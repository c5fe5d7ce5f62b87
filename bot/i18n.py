"""Translations: gettext catalogs compiled with Babel, one Translator per language.

The language is chosen per update (stored choice, else Telegram's language_code, else English);
there is no process-wide current language.
"""

from __future__ import annotations

import gettext
import io
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("uz", "ru", "en")
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
LANGUAGE_NAMES = {"uz": "Oʻzbekcha", "ru": "Русский", "en": "English"}


def N_(message: str) -> str:
    """Marks a string for extraction where it is translated later, at display time."""
    return message


class CatalogError(RuntimeError):
    """Translations are missing: the bot refuses to run with silently untranslated text."""


def locales_dir() -> Path:
    """Where the catalogs are: packaged with the wheel, or the repository's locales/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "locales", here.parent / "locales"):
        if (candidate / "ru" / "LC_MESSAGES").is_dir():
            return candidate
    raise CatalogError(f"no translation catalogs found next to {here}")


@dataclass(frozen=True)
class Translator:
    language: str
    catalog: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.catalog.gettext(message)

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalog.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self.catalog.pgettext(context, message)

    @cached_property
    def locale(self) -> Locale:
        return Locale.parse(self.language)


# Parsed catalogs by (file, modification time): a process that builds several Applications
# (the tests, the playground) parses each .mo once; a changed file is read again.
_PARSED: dict[tuple[str, float], gettext.GNUTranslations] = {}


def _load_one(directory: Path, language: str) -> gettext.GNUTranslations:
    folder = directory / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        key = (str(mo), mo.stat().st_mtime)
        if key not in _PARSED:
            with mo.open("rb") as fp:
                _PARSED[key] = gettext.GNUTranslations(fp)
        return _PARSED[key]
    if not po.exists():
        raise CatalogError(f"missing catalog {po}")
    # The compiled file is missing or older than its source: compile now, in memory, and
    # save it for next time when the folder is writable.
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    data = buffer.getvalue()
    try:
        mo.write_bytes(data)
    except OSError:
        log.info("compiled %s in memory (folder not writable)", po)
    return gettext.GNUTranslations(io.BytesIO(data))


class Catalogs:
    """Every language loaded once at start-up."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or locales_dir()
        self._translators = {
            lang: Translator(lang, _load_one(directory, lang)) for lang in LANGUAGES
        }
        for lang in ("ru", "uz"):
            if not self._translators[lang].catalog._catalog:  # type: ignore[attr-defined]
                raise CatalogError(f"the {lang} catalog is empty")

    def get(self, language: str | None) -> Translator:
        return (
            self._translators.get(language or DEFAULT_LANGUAGE)
            or self._translators[DEFAULT_LANGUAGE]
        )


def supported_language(code: str | None) -> str | None:
    """Maps Telegram's language_code ('ru', 'ru-RU', 'uz-Latn') to one of ours, or None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def choose_language(stored: str | None, telegram_code: str | None) -> str:
    return stored or supported_language(telegram_code) or DEFAULT_LANGUAGE
