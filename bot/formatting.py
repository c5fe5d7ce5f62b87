"""Turning sessions, days and contacts into the HTML text users read, in their language."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from html import escape

from babel.dates import format_date, format_datetime

from bot.i18n import Translator
from bot.storage.models import Cohort, Contact, Session

# Babel has no single skeleton that reads naturally in all three; Uzbek writes "15-sentabr"
# and "2027-yil", Russian "2027 г.".
_DAY_PATTERNS = {"en": "EEEE, d MMMM", "ru": "EEEE, d MMMM", "uz": "EEEE, d-MMMM"}
_DAY_YEAR_PATTERNS = {
    "en": "EEEE, d MMMM y",
    "ru": "EEEE, d MMMM y 'г'.",
    "uz": "EEEE, d-MMMM, y-'yil'",
}


def day_name(day: date, tr: Translator, *, year: bool = False) -> str:
    """A day inside a sentence: "среда, 16 сентября", "chorshanba, 16-sentabr" (Russian and
    Uzbek write weekdays in lower case; English always capitalises them)."""
    patterns = _DAY_YEAR_PATTERNS if year else _DAY_PATTERNS
    return format_date(day, patterns.get(tr.language, patterns["en"]), locale=tr.locale)


def day_heading(day: date, tr: Translator, *, year: bool = False) -> str:
    """A day at the start of a heading or a line: capitalised in every language."""
    text = day_name(day, tr, year=year)
    return text[:1].upper() + text[1:]


def relative_day(day: date, today: date, tr: Translator, *, year: bool = False) -> str:
    """ "today", "tomorrow", else the day's name: for use inside a sentence."""
    if day == today:
        return tr.pgettext("inside a sentence", "today")
    if day == today + timedelta(days=1):
        return tr.pgettext("inside a sentence", "tomorrow")
    return day_name(day, tr, year=year or day.year != today.year)


# Staff screens: 22.09.2026 18:00 is how Russian and Uzbek readers write a moment.
_MOMENT_PATTERNS = {"en": "d MMM yyyy, HH:mm", "ru": "dd.MM.yyyy HH:mm", "uz": "dd.MM.yyyy HH:mm"}
_DATE_PATTERNS = {"en": "d MMM yyyy", "ru": "dd.MM.yyyy", "uz": "dd.MM.yyyy"}


def local_moment(moment: datetime, zone: tzinfo, tr: Translator) -> str:
    """A date and time in the cohort's zone, the way the reader's language writes it."""
    local = moment.astimezone(zone)
    return format_datetime(
        local, _MOMENT_PATTERNS.get(tr.language, "yyyy-MM-dd HH:mm"), locale=tr.locale
    )


def local_date(day: date, tr: Translator) -> str:
    return format_date(day, _DATE_PATTERNS.get(tr.language, "yyyy-MM-dd"), locale=tr.locale)


def hhmm(moment: datetime, cohort: Cohort) -> str:
    return moment.astimezone(cohort.tz).strftime("%H:%M")


def countdown(delta: timedelta, tr: Translator) -> str:
    """'in 1 h 35 min' exactly; Babel's format_timedelta would round 95 minutes to 2 hours."""
    minutes = max(0, int(delta.total_seconds() + 59) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(tr.ngettext("{n} day", "{n} days", days).format(n=days))
    if hours:
        parts.append(tr.ngettext("{n} hour", "{n} hours", hours).format(n=hours))
    if mins or not parts:
        parts.append(tr.ngettext("{n} minute", "{n} minutes", mins).format(n=mins))
    return " ".join(parts)


class Progress(StrEnum):
    """Where a session of today stands at a given moment."""

    OVER = "over"
    NOW = "now"
    NEXT = "next"


def session_block(
    session: Session, cohort: Cohort, tr: Translator, progress: Progress | None = None
) -> str:
    lang = tr.language
    when = f"{hhmm(session.starts_at, cohort)}–{hhmm(session.ends_at, cohort)}"
    title = escape(session.title.get(lang))
    if session.cancelled:
        lines = [f"❌ <s>{when} {title}</s>"]
        reason = tr("Cancelled")
        if session.cancel_reason:
            reason += f": {escape(session.cancel_reason)}"
        lines.append(f"    <i>{reason}</i>")
        return "\n".join(lines)
    if progress is Progress.OVER:
        # Over: one dimmed line; where it was no longer matters.
        return f"✔️ <i>{when} {title}</i>"
    if progress is Progress.NOW:
        mark = escape(tr.pgettext("session", "now"))
        lines = [f"▶️ <b>{when}</b> {title} · <b>{mark}</b>"]
    elif progress is Progress.NEXT:
        mark = escape(tr.pgettext("session", "next"))
        lines = [f"⏭ <b>{when}</b> {title} · <b>{mark}</b>"]
    else:
        lines = [f"🕘 <b>{when}</b> {title}"]
    lines += session_details(session, tr, indent="    ")
    return "\n".join(lines)


def progress_of(sessions: list[Session], now: datetime) -> dict[int, Progress]:
    """Which sessions are over, which is going on, which comes next (cancelled ones: none)."""
    states: dict[int, Progress] = {}
    upcoming = [s for s in sessions if not s.cancelled and s.starts_at > now]
    for s in sessions:
        if s.cancelled:
            continue
        if s.ends_at <= now:
            states[s.id] = Progress.OVER
        elif s.starts_at <= now:
            states[s.id] = Progress.NOW
    if upcoming:
        states[min(upcoming, key=lambda s: s.starts_at).id] = Progress.NEXT
    return states


def session_details(session: Session, tr: Translator, indent: str = "") -> list[str]:
    """Department, place, host and notes: the lines under a session's title."""
    lang = tr.language
    details = (
        ("🏛", session.department.get(lang)),
        ("📍", session.location.get(lang)),
        ("👤", session.host.get(lang)),
        ("📝", session.notes.get(lang)),
    )
    return [f"{indent}{icon} {escape(text)}" for icon, text in details if text]


def day_text(
    day: date,
    sessions: list[Session],
    cohort: Cohort,
    tr: Translator,
    now: datetime | None = None,
) -> str:
    """A day's plan; given `now`, what is over, going on and next is marked."""
    heading = f"<b>{escape(day_heading(day, tr))}</b>"
    if not sessions:
        nothing = tr("Nothing is planned for this day.")
        return f"{heading}\n{nothing}"
    states = progress_of(sessions, now) if now is not None else {}
    blocks = [session_block(s, cohort, tr, states.get(s.id)) for s in sessions]
    return heading + "\n" + "\n\n".join(blocks)


def phone_text(phone: str) -> str:
    """A phone number grouped for reading (+7 701 234 56 78). Telegram makes a number written
    with spaces tappable as it does a compact one, so the digits stay grouped; brackets,
    dashes and dots become spaces, and an ungrouped Kazakh or Uzbek mobile is grouped."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+"):
        if len(digits) == 11 and digits.startswith("7"):
            return f"+7 {digits[1:4]} {digits[4:7]} {digits[7:9]} {digits[9:]}"
        if len(digits) == 12 and digits.startswith("998"):
            return f"+998 {digits[3:5]} {digits[5:8]} {digits[8:10]} {digits[10:]}"
    return " ".join(re.sub(r"[()\-.]", " ", phone).split()) or phone


# Within a cohort, whom a student calls first: the group's own supervisor, then the
# programme's coordinator, then everyone else in the order of the contacts file. The roles
# are told by their English role text, which every contacts file has (role_en).
_FIRST_ROLES = ("supervisor", "coordinator")


def _priority(contact: Contact) -> int:
    role = contact.role.en.lower()
    for rank, word in enumerate(_FIRST_ROLES):
        if word in role:
            return rank
    return len(_FIRST_ROLES)


def contacts_text(contacts: Iterable[Contact], tr: Translator) -> str:
    lang = tr.language
    own: dict[str, list[Contact]] = {}
    shared: list[Contact] = []
    ordered = sorted(contacts, key=_priority)  # stable: the file's order within a rank
    for contact in ordered:
        if contact.cohort_id is None:
            shared.append(contact)
        else:
            own.setdefault(contact.role.get(lang) or tr("Other contacts"), []).append(contact)
    title = tr("Contacts")
    parts = [f"<b>{escape(title)}</b>"]
    for role, people in own.items():
        lines = [f"\n<b>{escape(role)}</b>"]
        lines.extend("• " + _contact_line(c.name.get(lang), c) for c in people)
        parts.append("\n".join(lines))
    if shared:
        shared_title = tr("Emergency and shared numbers")
        lines = [f"\n<b>🚨 {escape(shared_title)}</b>"]
        lines.extend(_shared_line(c, lang) for c in shared)
        parts.append("\n".join(lines))
    if len(parts) == 1:
        parts.append(tr("No contacts have been added yet."))
    return "\n".join(parts)


def _shared_line(c: Contact, lang: str) -> str:
    """'Ambulance: 103' for a service; 'Campus security: K.S. Omarov — +7 … · mail · @handle'
    for a person or desk whose name says more than the role."""
    role, name = c.role.get(lang), c.name.get(lang)
    # A name the role already says ("Ambulance" / "Ambulance") is not repeated.
    if not role or name.casefold() in role.casefold():
        label, who = role or name, ""
    elif role.casefold() in name.casefold():
        label, who = name, ""
    else:
        label, who = role, name
    line = f"<b>{escape(label)}</b>:"
    if who:
        return f"{line} " + _contact_line(who, c)
    details = _details(c)
    return f"{line} {' · '.join(details)}" if details else line.rstrip(":")


def _details(c: Contact) -> list[str]:
    details = [escape(phone_text(c.phone))] if c.phone else []
    if c.email:
        details.append(escape(c.email))
    if c.telegram:
        details.append(escape(c.telegram))
    return details


def _contact_line(name: str, c: Contact) -> str:
    details = _details(c)
    return escape(name) + (f" — {' · '.join(details)}" if details else "")


# -- message length ---------------------------------------------------------------------------

# Telegram refuses texts over 4,096 characters counted in UTF-16 code units (an emoji or any
# character beyond the Basic Multilingual Plane counts twice). Entities are counted after
# parsing, so the HTML source is a safe over-estimate; the margin keeps room for a header.
MAX_MESSAGE_UNITS = 4000
_TAG = re.compile(r"<[^>]+>")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _plain_pieces(part: str, limit: int) -> list[str]:
    """A part too long for one message, as plain escaped pieces (tags cannot be cut safely)."""
    from html import unescape

    plain = unescape(_TAG.sub("", part))
    pieces, current, units = [], [], 0
    for char in plain:
        # escape() may turn one character into up to six (&quot;): budget for it.
        cost = utf16_len(escape(char))
        if units + cost > limit:
            pieces.append("".join(current))
            current, units = [], 0
        current.append(char)
        units += cost
    if current:
        pieces.append("".join(current))
    return [escape(p) for p in pieces]


def split_message(
    parts: list[str], separator: str = "\n", limit: int = MAX_MESSAGE_UNITS
) -> list[str]:
    """Joins HTML parts into as few messages as fit, never cutting inside a part's markup."""
    messages: list[str] = []
    chunk = ""
    for part in parts:
        pieces = [part] if utf16_len(part) <= limit else _plain_pieces(part, limit)
        for piece in pieces:
            joined = f"{chunk}{separator}{piece}" if chunk else piece
            if chunk and utf16_len(joined) > limit:
                messages.append(chunk)
                joined = piece
            chunk = joined
    if chunk:
        messages.append(chunk)
    return messages


def fit_message(text: str, limit: int = MAX_MESSAGE_UNITS) -> str:
    """One message at most: the lines that fit, then an ellipsis (a reminder is never lost
    for being too long)."""
    if utf16_len(text) <= limit:
        return text
    first = split_message(text.split("\n"), "\n", limit - 2)[0]
    return first + "\n…"
