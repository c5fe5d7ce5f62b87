"""What is on when, in the cohort's own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from bot.clock import Clock
from bot.storage import Storage
from bot.storage.models import Cohort, Session


@dataclass(frozen=True)
class Day:
    date: date
    sessions: list[Session]


class Phase(StrEnum):
    """Where today stands in a cohort's programme."""

    BEFORE = "before"
    DURING = "during"
    AFTER = "after"


@dataclass(frozen=True)
class Span:
    """The sessions of a range of days, for staff, and what lies beyond it."""

    first: date
    last: date
    days: list[Day]  # only the days with sessions
    later: int  # sessions that start after the range
    next_day: date | None  # the local day of the first of them


SPAN_DAYS = 7


class ItineraryService:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def local_now(self, cohort: Cohort) -> datetime:
        return self._clock.now().astimezone(cohort.tz)

    def local_today(self, cohort: Cohort) -> date:
        return self.local_now(cohort).date()

    async def day(self, cohort: Cohort, day: date) -> Day:
        start = datetime.combine(day, time(0), tzinfo=cohort.tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=cohort.tz)
        sessions = await self._storage.sessions.starting_between(cohort.id, start, end)
        return Day(day, sessions)

    async def today(self, cohort: Cohort) -> Day:
        return await self.day(cohort, self.local_today(cohort))

    async def tomorrow(self, cohort: Cohort) -> Day:
        return await self.day(cohort, self.local_today(cohort) + timedelta(days=1))

    async def week(self, cohort: Cohort) -> list[Day]:
        """The rest of this week; at the weekend, the rest of it and the whole next week."""
        today = self.local_today(cohort)
        last = today + timedelta(days=6 - today.weekday())
        if today.weekday() >= 5:
            last += timedelta(days=7)
        start = datetime.combine(today, time(0), tzinfo=cohort.tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=cohort.tz)
        by_day: dict[date, list[Session]] = {}
        for session in await self._storage.sessions.starting_between(cohort.id, start, end):
            by_day.setdefault(session.starts_at.astimezone(cohort.tz).date(), []).append(session)
        count = (last - today).days + 1
        return [
            Day(d, by_day.get(d, [])) for d in (today + timedelta(days=i) for i in range(count))
        ]

    async def next_session(self, cohort: Cohort) -> tuple[Session | None, Session | None]:
        """(the session going on now, if any; the next one to start)."""
        now = self._clock.now()
        current = await self._storage.sessions.current_at(cohort.id, now)
        upcoming = await self._storage.sessions.next_after(cohort.id, now)
        return current, upcoming

    def default_range(self, cohort: Cohort) -> tuple[date, date, Phase]:
        """A week: from today while the programme runs, its first week before it starts (from
        the arrival), its last week once it is over (up to the departure)."""
        today = self.local_today(cohort)
        week = timedelta(days=SPAN_DAYS - 1)
        if today < cohort.arrives:
            return cohort.arrives, cohort.arrives + week, Phase.BEFORE
        if today > cohort.departs:
            return max(cohort.departs - week, cohort.arrives), cohort.departs, Phase.AFTER
        return today, today + week, Phase.DURING

    async def span(self, cohort: Cohort, first: date, last: date) -> Span:
        """The sessions from `first` to `last` (local days, both included), grouped by day."""
        start = datetime.combine(first, time(0), tzinfo=cohort.tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=cohort.tz)
        by_day: dict[date, list[Session]] = {}
        later: list[Session] = []
        for session in await self._storage.sessions.for_cohort(cohort.id):
            if start <= session.starts_at < end:
                by_day.setdefault(session.starts_at.astimezone(cohort.tz).date(), []).append(
                    session
                )
            elif session.starts_at >= end:
                later.append(session)
        next_day = None
        if later:
            next_day = min(s.starts_at for s in later).astimezone(cohort.tz).date()
        days = [Day(d, sorted(by_day[d], key=lambda s: s.starts_at)) for d in sorted(by_day)]
        return Span(first, last, days, len(later), next_day)
