"""What is on when, in the cohort's own time zone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from bot.clock import Clock
from bot.formatting import day_text, progress_of
from bot.i18n import Translator
from bot.storage import Storage
from bot.storage.models import Cohort, Session

T = TypeVar("T")


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


class PlanCache:
    """Plans read from the database, per cohort, valid while that cohort's change feed stands
    where it stood.

    Every change to a session, by any path and any process, adds a row to the change feed,
    naming the session's cohort; `load_user` reads the latest id for the user's cohort with the
    user (no extra round trip) and tells the cache, which forgets that cohort's plans when it
    moved. An entry is only stored if the cohort's position did not move while it was read, so
    no plan older than a confirmed change is ever served; a cohort whose position has not been
    read is not cached at all. An import into one cohort leaves the others' plans alone.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._positions: dict[int, int] = {}  # cohort id -> feed position its plans were read at
        self._plans: dict[int, dict[Hashable, Any]] = {}
        self._size = 0
        self.hits = self.misses = 0

    def observe(self, cohort_id: int | None, position: int) -> None:
        if cohort_id is not None and self._positions.get(cohort_id) != position:
            self._drop(cohort_id)
            self._positions[cohort_id] = position

    def forget(self, cohort_ids: Iterable[int | None] | None = None) -> None:
        """Drops the plans of these cohorts (all without an argument) until their position is
        read again (the change feed job calls this as it applies changes)."""
        for cohort_id in list(self._positions) if cohort_ids is None else cohort_ids:
            if cohort_id is not None:
                self._drop(cohort_id)
                self._positions.pop(cohort_id, None)

    async def get(self, cohort_id: int, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        position = self._positions.get(cohort_id)
        plans = self._plans.get(cohort_id)
        if position is not None and plans is not None and key in plans:
            self.hits += 1
            return plans[key]
        self.misses += 1
        value = await read()
        if position is not None and self._positions.get(cohort_id) == position:
            self._store(cohort_id, key, value)
        return value

    def remember(self, cohort_id: int, key: Hashable, compute: Callable[[], T]) -> T:
        """`get` for what is computed, not read (nothing can change while it runs)."""
        plans = self._plans.get(cohort_id)
        if cohort_id in self._positions and plans is not None and key in plans:
            self.hits += 1
            return plans[key]
        value = compute()
        if cohort_id in self._positions:
            self._store(cohort_id, key, value)
        return value

    def _store(self, cohort_id: int, key: Hashable, value: object) -> None:
        if self._size >= self.LIMIT:
            self._plans.clear()
            self._size = 0
        plans = self._plans.setdefault(cohort_id, {})
        self._size += key not in plans
        plans[key] = value

    def _drop(self, cohort_id: int) -> None:
        self._size -= len(self._plans.pop(cohort_id, {}))


class ItineraryService:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock
        self.plans = PlanCache()

    async def refresh(self, cohort_id: int, observed: int | None = None) -> None:
        """Before reading another cohort's plans than the one `load_user` read the position of
        (`observed`: a group's cohort, a coordinator's view in the Mini App): reads that
        cohort's position, so its cached plans are never older than a confirmed change."""
        if cohort_id != observed:
            self.plans.observe(cohort_id, await self._storage.changes.position_of(cohort_id))

    def local_now(self, cohort: Cohort) -> datetime:
        return self._clock.now().astimezone(cohort.tz)

    def local_today(self, cohort: Cohort) -> date:
        return self.local_now(cohort).date()

    async def day(self, cohort: Cohort, day: date) -> Day:
        start = datetime.combine(day, time(0), tzinfo=cohort.tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=cohort.tz)
        sessions = await self._between(cohort, start, end)
        return Day(day, sessions)

    def day_text(self, day: Day, cohort: Cohort, tr: Translator, now: datetime | None) -> str:
        """The day's plan as `formatting.day_text` writes it, rendered once per language and
        per state of the day (what is over, going on, next), as long as the plan stands."""
        states = progress_of(day.sessions, now) if now is not None else None
        key = (
            "text", cohort, day.date, tr.language, now is None,
            tuple((s.id, s.revision, states and states.get(s.id)) for s in day.sessions),
        )  # fmt: skip
        return self.plans.remember(
            cohort.id, key, lambda: day_text(day.date, day.sessions, cohort, tr, now)
        )

    async def _between(self, cohort: Cohort, start: datetime, end: datetime) -> list[Session]:
        """The sessions starting in [start, end), from the cache while the cohort's feed stands
        still.
        Callers must not change the list: it is shared."""
        return await self.plans.get(
            cohort.id,
            (start, end),
            lambda: self._storage.sessions.starting_between(cohort.id, start, end),
        )

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
        for session in await self._between(cohort, start, end):
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
