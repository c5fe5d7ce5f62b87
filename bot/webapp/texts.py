"""Every word the Mini App's page shows, translated on the server with the user's catalog (the
page itself holds no text of its own, so the translators see one catalog)."""

from __future__ import annotations

from functools import cache

from bot.i18n import Catalogs, Translator


# Named as the extraction keywords (N_, pgettext:1c,2): `make extract` finds these texts.
def pgettext(context: str, message: str) -> tuple[str, str]:
    return context, message


def N_(message: str) -> tuple[None, str]:
    return None, message


TEXTS: dict[str, tuple[str | None, str]] = {
    "title": pgettext("button", "Timetable"),
    "today": N_("Today"),
    "now": pgettext("session", "now"),
    "next": pgettext("session", "next"),
    "cancelled": N_("Cancelled"),
    "nothing": N_("Nothing is planned for this day."),
    "earlier": N_("Previous week"),
    "later": N_("Next week"),
    "this_week": N_("This week"),
    "back": pgettext("button", "Back"),
    "department": N_("Department"),
    "place": N_("Place"),
    "host": N_("Host"),
    "notes": N_("Notes"),
    "map": N_("Open in maps"),
    "reminders": N_("Your reminders"),
    "reminders_on": N_("A reminder before each session"),
    "how_early": N_("How early"),
    "minutes": N_("{n} min"),
    "digest": N_("Tomorrow's plan at 20:00"),
    "keep_one": N_("Keep at least one time, or turn reminders off."),
    "saved": N_("Saved."),
    "calendar": N_("Calendar file"),
    "calendar_hint": N_(
        "The whole programme for your phone's calendar, with reminders. Get it again after "
        "changes: events update in place."
    ),
    "download": pgettext("button", "Download"),
    "send_to_chat": pgettext("button", "Send to the chat"),
    "timetable_tab": pgettext("button", "Timetable"),
    "console_tab": pgettext("button", "Console"),
    "sessions": N_("Sessions"),
    "roster": N_("Members"),
    "announcements": N_("Announcements"),
    "audit": N_("Changes"),
    "attendance": N_("Attendance"),
    "questions": N_("Questions"),
    "mark_hint": N_("Tap a name to mark the student by hand."),
    "no_questions": N_("No open questions."),
    "questions_hint": N_(
        "Questions are answered in the chat: reply to the bot's message with the question, or "
        "use its buttons there. /questions lists them too."
    ),
    "import": pgettext("button", "Import"),
    "move": pgettext("button", "Move"),
    "room": pgettext("button", "Place"),
    "cancel": pgettext("button", "Cancel"),
    "restore": pgettext("button", "Restore"),
    "confirm": pgettext("button", "Confirm"),
    "discard": pgettext("button", "Discard"),
    "date": N_("Date"),
    "time": N_("Time"),
    "reason": N_("Reason (optional)"),
    "reachable": N_("reachable"),
    "blocked": N_("has blocked the bot"),
    "confirmed": N_("Confirmed"),
    "waiting": N_("Not yet confirmed"),
    "not_delivered": N_("Not delivered"),
    "sending": N_("Still sending"),
    "no_announcements": N_("No announcements yet."),
    "no_changes": N_("Nothing has been changed yet."),
    "choose_file": N_("Choose a .csv or .xlsx file in the import format (see /export)."),
    "upload": pgettext("button", "Upload"),
    "not_allowed": N_("Sorry, you are not allowed to do that."),
    "error": N_("Something went wrong. Please try again."),
    "no_group": N_(
        "You have not joined a group yet. Open the invite link that your coordinator or "
        "supervisor shared with you, then open this page again."
    ),
}

# The one text shown before anyone is known: in a plain browser, outside Telegram.
OUTSIDE_TELEGRAM = N_(
    "This page is the bot's Mini App: open it in Telegram, from the bot's menu button or the "
    "“Open timetable” button under /week."
)


def text(tr: Translator, entry: tuple[str | None, str]) -> str:
    context, message = entry
    return tr.pgettext(context, message) if context else tr(message)


@cache
def _strings(catalogs: Catalogs, language: str) -> dict[str, str]:
    tr = catalogs.get(language)
    return {key: text(tr, entry) for key, entry in TEXTS.items()}


def strings(catalogs: Catalogs, language: str) -> dict[str, str]:
    return _strings(catalogs, language)
