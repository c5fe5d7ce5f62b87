"""The cohort's itinerary as an iCalendar file (RFC 5545), built with the icalendar library."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event, vGeo

from bot.i18n import Translator
from bot.storage.models import Cohort, Session

PRODID = "-//Mobility Bot//mobility-bot//EN"
UID_DOMAIN = "mobility-bot"


def session_uid(cohort: Cohort, session: Session) -> str:
    """Stable across re-imports (sessions keep their identity), so phones update in place."""
    return f"{cohort.code}-{session.external_id}@{UID_DOMAIN}".replace(" ", "_").replace(":", "")


def build_calendar(
    cohort: Cohort,
    sessions: list[Session],
    tr: Translator,
    leads: tuple[int, ...],
    now: datetime,
) -> bytes:
    lang = tr.language
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", cohort.name.get(lang))
    calendar.add("x-wr-timezone", cohort.timezone)
    for session in sessions:
        event = Event()
        event.add("uid", session_uid(cohort, session))
        event.add("dtstamp", now)
        event.add("sequence", session.revision)
        # Instants in UTC: every calendar app understands them without a VTIMEZONE.
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("summary", session.title.get(lang))
        if session.location:
            event.add("location", session.location.get(lang))
        description = [
            part
            for part in (
                session.department.get(lang),
                session.host.get(lang),
                session.notes.get(lang),
                session.cancel_reason if session.cancelled else "",
            )
            if part
        ]
        if description:
            event.add("description", "\n".join(description))
        if session.has_coordinates:
            event.add("geo", vGeo((session.latitude, session.longitude)))
        if session.cancelled:
            event.add("status", "CANCELLED")
        else:
            event.add("status", "CONFIRMED")
            for lead in leads:
                alarm = Alarm()
                alarm.add("action", "DISPLAY")
                alarm.add("description", session.title.get(lang))
                alarm.add("trigger", timedelta(minutes=-lead))
                event.add_component(alarm)
        calendar.add_component(event)
    return calendar.to_ical()
