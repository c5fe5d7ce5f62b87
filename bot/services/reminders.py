"""Reminders before sessions, change notices and the evening digest.

The database is the source of truth: jobs are rebuilt from it at start (`reconcile`), each
send is recorded in `deliveries` (so a restart repeats nothing), and every change to a
session, by any path, is written to `session_changes`, which `process_changes` turns into
rescheduled jobs and short notices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.clock import Clock
from bot.config import Settings
from bot.formatting import countdown, day_name, day_text, hhmm, session_details
from bot.i18n import Translator
from bot.scheduling import JobScheduler
from bot.services.checkin import checkin_button
from bot.services.delivery import Outgoing, Sender
from bot.storage import Storage
from bot.storage.models import Cohort, Membership, Session, SessionChangeRecord, User

log = logging.getLogger(__name__)

LEAD_CHOICES = (15, 30, 60, 120)
NOTICE_WINDOW = timedelta(hours=48)
DIGEST_AT = time(20, 0)
YIELD_EVERY = 250  # sessions rescheduled between two turns of the event loop
CHANGE_POLL_SECONDS = 3.0
HORIZON = timedelta(hours=48)  # sessions starting within this have their reminders queued
HORIZON_STEP = timedelta(hours=1)  # how often the horizon moves on
HORIZON_ITEM = "reminders:horizon"
NOTICES_ITEM = "changes:notices"
CHECK_ITEM = "sessions:check"
CHANGE_BATCH = 5000  # changes rescheduled per round trip
NOTICE_BATCH = 500


@dataclass(frozen=True)
class ReminderJob:
    session_id: int
    lead: int
    starts_at: datetime  # the start this job was planned for; a moved session has a new one


def _group(session_id: int) -> str:
    return f"session:{session_id}"


def session_group(session_id: int) -> str:
    """The timed-queue group of a session's items: a change to the session drops them all
    (reminders and every feature's items alike) and asks each planner again."""
    return _group(session_id)


class TimedPlanner:
    """A feature with timed messages of its own (attendance nudges, feedback prompts, task
    deadlines, the group's morning card...) plugs in here instead of keeping its own schedule:
    the reminder service asks every planner, with the same horizon, the same restart path and
    the same change feed, so nothing timed is scheduled twice or forgotten after a change.

    Exactly-once is each planner's business through the `deliveries` table (`Sender.deliver`),
    as for reminders: the queue may run an item again after a restart."""

    # How long after a session's start its items may still be due (a feedback prompt at its
    # end, a roll-call 20 minutes in): at start, sessions begun this long ago are planned too.
    reach: timedelta = timedelta(0)

    def plan_session(self, session: Session, now: datetime) -> int:
        """Puts this session's items on the queue (group `session_group(session.id)`, names
        unique to the feature) and returns how many. Called at start, when the horizon reaches
        the session and after every change to it (its old items are gone by then). Never
        called for a cancelled session. `now` may be after the session's start."""
        return 0

    async def plan_window(self, after: datetime, until: datetime, now: datetime) -> int:
        """Items not tied to one session that fall due in (after, until]; returns how many.
        At start `after` is now (what fell due while the bot was down is the planner's call)."""
        return 0

    async def changes_applied(
        self, changes: list[SessionChangeRecord], sessions: dict[int, Session]
    ) -> None:
        """After the members' notices of a batch of changes (every path: commands, imports,
        the CLI in another process): e.g. edit a posted card once for the whole batch.
        `sessions` holds the batch's sessions that start within the next 48 hours or were
        moved away from them (the rest are not read); read others yourself if you need them."""


def map_url(session: Session) -> str:
    return (
        f"https://www.openstreetmap.org/?mlat={session.latitude:.6f}&mlon={session.longitude:.6f}"
        f"#map=18/{session.latitude:.6f}/{session.longitude:.6f}"
    )


# Per member, lines the evening plan adds (the tasks due tomorrow): user id -> lines in a language.
DigestExtra = Callable[[Cohort, date], Awaitable[dict[int, Callable[[Translator], list[str]]]]]


class ReminderService:
    # Called with the cohorts whose sessions changed, as pending changes are applied.
    on_changes: Callable[[set[int | None]], None] | None = None
    digest_extra: DigestExtra | None = None

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        settings: Settings,
        sender: Sender,
        scheduler: JobScheduler,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._sender = sender
        self._scheduler = scheduler
        self._leads: dict[int, tuple[int, ...]] = {}  # cohort id -> leads its members use
        self._lock = asyncio.Lock()  # one change to what is scheduled at a time
        self._notifying = asyncio.Lock()  # one drain of change notices at a time
        self._horizon: datetime | None = None
        self._seen_change = 0  # the last change id whose session was rescheduled
        self._polling: asyncio.Task[None] | None = None
        self._planners: list[TimedPlanner] = []

    def add_planner(self, planner: TimedPlanner) -> None:
        """Registers a feature's timed items; before `reconcile` (i.e. when services are built)."""
        self._planners.append(planner)

    @property
    def _reach(self) -> timedelta:
        return max((p.reach for p in self._planners), default=timedelta(0))

    # -- which leads apply ---------------------------------------------------------------

    def leads_of(self, user: User) -> tuple[int, ...]:
        return user.reminder_leads if user.reminder_leads is not None else (
            self._settings.reminder_minutes
        )  # fmt: skip

    async def _refresh_leads(self) -> None:
        self._leads = {}
        for cohort_id, settings in (await self._storage.users.leads_in_use()).items():
            leads: set[int] = set()
            for text in settings:
                if text is None:
                    leads.update(self._settings.reminder_minutes)
                else:
                    leads.update(int(x) for x in text.split(",") if x)
            self._leads[cohort_id] = tuple(sorted(leads, reverse=True))

    # -- scheduling ----------------------------------------------------------------------
    #
    # Only a near horizon is on the timed queue: sessions starting within HORIZON of now. An
    # item due every HORIZON_STEP moves the horizon on; a change schedules its session only
    # when it starts within the horizon (beyond it, the horizon will reach it). Every change
    # to what is scheduled runs under one lock, so a read from the database and the items it
    # schedules are never overtaken by an older read.

    async def reconcile(self) -> int:
        """At start: schedules the horizon's reminders and each cohort's digest; returns items.

        Changes recorded while the bot was down are already in the rows read here; only
        their notices remain to send (none when nothing changed: start-up stays quick)."""
        await self._storage.deliveries.release_interrupted()
        await self._refresh_leads()
        async with self._lock:
            # Read the feed's position first: every change up to it is in the rows read next.
            self._seen_change = await self._storage.changes.last_id()
            now = self._clock.now()
            self._horizon = (now + HORIZON).replace(microsecond=0)
            count = 0
            begun = now - self._reach  # items of sessions under way may still be due
            for session in await self._storage.sessions.upcoming_between(begun, self._horizon):
                count += self._schedule_session(session, now)
            for cohort in await self._storage.cohorts.all():
                count += self._schedule_digest(cohort)
            for planner in self._planners:
                count += await planner.plan_window(now, self._horizon, now)
        self._scheduler.at(HORIZON_ITEM, now + HORIZON_STEP, self._horizon_item)
        self._scheduler.at(CHECK_ITEM, now, self._check_item)  # right after start, not in it
        self._scheduler.every("changes:watch", CHANGE_POLL_SECONDS, self._changes_job)
        # Notices of changes made while the bot was down, before anyone is answered (and
        # before anyone can join and be told of a change made before they came).
        await self._notify_pending()
        return count

    @property
    def horizon(self) -> datetime | None:
        """Sessions starting up to this instant have their reminders on the queue."""
        return self._horizon

    async def extend_horizon(self) -> int:
        """Schedules the sessions the horizon reaches since it last moved; returns items."""
        async with self._lock:
            now = self._clock.now()
            until = (now + HORIZON).replace(microsecond=0)
            after = self._horizon if self._horizon is not None else now
            if until <= after:
                return 0
            sessions = await self._storage.sessions.upcoming_between(after, until)
            self._horizon = until
            count = sum(self._schedule_session(s, now) for s in sessions)
            for planner in self._planners:
                count += await planner.plan_window(after, until, now)
            return count

    async def reschedule_cohort(self, cohort_id: int) -> None:
        """After a member changes their leads or joins: the cohort's set of leads may differ."""
        async with self._lock:
            before = self._leads.get(cohort_id)
            await self._refresh_leads()
            if self._leads.get(cohort_id) == before:
                return
            now = self._clock.now()
            if self._horizon is not None:
                sessions = await self._storage.sessions.starting_between(
                    cohort_id, now, self._horizon + timedelta(seconds=1)
                )
                for session in sessions:
                    self._scheduler.cancel_group(_group(session.id))
                    if session.starts_at <= self._horizon:
                        self._schedule_session(session, now)
            cohort = await self._storage.cohorts.get(cohort_id)
            if cohort is not None:
                self._schedule_digest(cohort)

    def _schedule_session(self, session: Session, now: datetime) -> int:
        """One item per lead in use, then each planner's items. Reminders that fell due while
        the bot was down are sent now if the session has not started, but only the latest of
        them (no burst of stale 60- and 30-minute reminders)."""
        if session.cancelled:
            return 0
        count = 0
        for planner in self._planners:
            count += planner.plan_session(session, now)
        if session.starts_at <= now:
            return count
        leads = self._leads.get(session.cohort_id, ())
        missed = [lead for lead in leads if session.starts_at - timedelta(minutes=lead) <= now]
        for lead in leads:
            due = session.starts_at - timedelta(minutes=lead)
            if due <= now and lead != min(missed):
                continue
            self._scheduler.at(
                f"reminder:{session.id}:{lead}",
                due,
                self.send_reminders,
                ReminderJob(session.id, lead, session.starts_at),
                group=_group(session.id),
            )
            count += 1
        return count

    def _schedule_digest(self, cohort: Cohort) -> int:
        local_now = self._clock.now().astimezone(cohort.tz)
        when = datetime.combine(local_now.date(), DIGEST_AT, tzinfo=cohort.tz)
        if when <= local_now:
            when += timedelta(days=1)
        if when.date() > cohort.departs:
            self._scheduler.cancel(f"digest:{cohort.id}")
            return 0
        self._scheduler.at(f"digest:{cohort.id}", when, self._digest_item, cohort.id)
        return 1

    # -- timed items (no update: everything comes from the item's data) --------------------

    async def _digest_item(self, cohort_id: int) -> None:
        cohort = await self._storage.cohorts.get(cohort_id)
        if cohort is not None:
            try:
                await self.send_digest(cohort)
            finally:  # tomorrow's plan is scheduled even if tonight's failed
                self._schedule_digest(cohort)

    async def _horizon_item(self, _: object) -> None:
        try:
            await self.extend_horizon()
        finally:  # the next step is scheduled even if this one failed
            self._scheduler.at(HORIZON_ITEM, self._clock.now() + HORIZON_STEP, self._horizon_item)

    async def _check_item(self, _: object) -> None:
        await self._storage.sessions.unreadable()  # each bad row is reported once

    async def _notices_item(self, _: object) -> None:
        await self._notify_pending()

    async def _changes_job(self, context) -> None:  # type: ignore[no-untyped-def]
        """The poll (a repeating job) returns at once: the work runs as a task, one at a
        time, so a long catch-up after a big import is not a job APScheduler keeps skipping."""
        if self._polling is None or self._polling.done():
            self._polling = context.application.create_task(self._poll(), name="changes:poll")

    async def _poll(self) -> None:
        """Reschedules at once; the notices follow as an item of their own, so a long drain
        of notices never holds up the next reschedule."""
        if await self._reschedule_pending():
            self._scheduler.at(NOTICES_ITEM, self._clock.now(), self._notices_item)

    # -- sending ---------------------------------------------------------------------------

    async def send_reminders(self, job: ReminderJob) -> dict[str, int]:
        session = await self._storage.sessions.get(job.session_id)
        now = self._clock.now()
        tally: dict[str, int] = {}
        if session is None or session.cancelled or session.starts_at != job.starts_at:
            return tally  # cancelled or moved since: its new jobs are already scheduled
        if session.starts_at <= now:
            return tally  # stale: the session has started
        cohort = await self._storage.cohorts.get(session.cohort_id)
        if cohort is None:
            return tally
        due = session.starts_at - timedelta(minutes=job.lead)
        ref = f"{session.id}:{job.lead}:{session.starts_at:%Y%m%d%H%M}"
        members = await self._storage.users.members_of(cohort.id)
        recipients = [u for u, m in members if self._wants(u, m, job.lead, due)]
        return await self._sender.deliver_all(
            "reminder", ref, recipients, lambda tr: self._reminder_message(session, cohort, tr)
        )

    def _wants(self, user: User, membership: Membership, lead: int, due: datetime) -> bool:
        return (
            user.reachable
            and user.reminders_on
            and lead in self.leads_of(user)
            and membership.joined_at <= due  # joined after it was due: not a stale one
        )

    def _reminder_message(self, session: Session, cohort: Cohort, tr: Translator) -> Outgoing:
        now = self._clock.now()
        lang = tr.language
        title = escape(session.title.get(lang))
        lines = [
            "⏰ "
            + tr("<b>{title}</b> starts in {countdown}").format(
                title=title, countdown=countdown(session.starts_at - now, tr)
            ),
            f"🕘 {hhmm(session.starts_at, cohort)}–{hhmm(session.ends_at, cohort)}, "
            + escape(day_name(session.starts_at.astimezone(cohort.tz).date(), tr)),
            *session_details(session, tr),
        ]
        row = [checkin_button(session.id, tr)]  # whoever presses it checks in
        if session.has_coordinates:
            row.append(InlineKeyboardButton("🗺 " + tr("Open the map"), url=map_url(session)))
        return Outgoing("\n".join(lines), InlineKeyboardMarkup([row]))

    async def send_digest(self, cohort: Cohort) -> dict[str, int]:
        """Tomorrow's plan, at 20:00 local; nothing when tomorrow is empty."""
        tomorrow = self._clock.now().astimezone(cohort.tz).date() + timedelta(days=1)
        start = datetime.combine(tomorrow, time(0), tzinfo=cohort.tz)
        sessions = await self._storage.sessions.starting_between(
            cohort.id, start, start + timedelta(days=1)
        )
        extra = await self.digest_extra(cohort, tomorrow) if self.digest_extra else {}
        planned = any(not s.cancelled for s in sessions)
        if not planned and not extra:
            return {}
        ref = f"{cohort.id}:{tomorrow.isoformat()}"
        members = await self._storage.users.members_of(cohort.id)

        def render(tr: Translator) -> Outgoing:
            header = tr("Tomorrow's plan")
            return Outgoing(f"🌙 <b>{header}</b> · " + day_text(tomorrow, sessions, cohort, tr))

        recipients = [u for u, _ in members if u.reachable and u.digest_on]
        if not extra:
            return await self._sender.deliver_all("digest", ref, recipients, render)

        def render_for(
            lines: Callable[[Translator], list[str]],
        ) -> Callable[[Translator], Outgoing]:
            def with_lines(tr: Translator) -> Outgoing:
                plan = render(tr)
                return Outgoing(plan.text + "\n\n" + "\n".join(lines(tr)), plan.markup)

            return with_lines

        # Each member's own lines (their tasks due tomorrow): one render per member.
        plain = [u for u in recipients if planned and u.telegram_id not in extra]
        tally = await self._sender.deliver_all("digest", ref, plain, render) if plain else {}
        statuses = await asyncio.gather(*(
            self._sender.deliver("digest", ref, u, render_for(extra[u.telegram_id]))
            for u in recipients if u.telegram_id in extra
        ))  # fmt: skip
        for status in statuses:
            tally[status] = tally.get(status, 0) + 1
        return tally

    # -- changes ---------------------------------------------------------------------------

    async def process_changes(self) -> int:
        """Applies pending session changes to the schedule, then notifies members; returns
        how many changes were rescheduled."""
        count = await self._reschedule_pending()
        await self._notify_pending()
        return count

    async def _reschedule_pending(self) -> int:
        """Every change the bot has not yet seen, in batches: each batch reads its sessions
        in one query, refreshes the leads at most once, and replaces each session's items
        once, however many changes it had."""
        total = 0
        async with self._lock:
            while True:
                session_ids, cohorts, last = await self._storage.changes.pending_session_ids(
                    self._seen_change, CHANGE_BATCH
                )
                if not session_ids:
                    return total
                if self.on_changes is not None:  # cached plans must not outlive a change
                    self.on_changes(cohorts)
                await self._reschedule(session_ids)
                total += len(session_ids)
                self._seen_change = last

    async def _reschedule(self, session_ids: list[int]) -> None:
        """Drops the items of every changed session; reads and schedules again only those
        starting within the horizon (or under way): after an import that moved a whole
        programme, most rows need not be read at all."""
        now = self._clock.now()
        horizon = self._horizon if self._horizon is not None else now + HORIZON
        sessions = await self._storage.sessions.get_many(
            session_ids, starting=(now - self._reach, horizon)
        )
        if any(s.cohort_id not in self._leads for s in sessions.values()):
            await self._refresh_leads()  # a new cohort, or its first member
        for i, session_id in enumerate(session_ids):
            if i and i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a batch of thousands must not hold others' answers
            self._scheduler.cancel_group(_group(session_id))
            session = sessions.get(session_id)
            if session is None:
                continue  # gone, over, or beyond the horizon (which will reach it)
            try:
                self._schedule_session(session, now)
            except Exception as exc:  # one bad session must not stop the feed for everyone
                log.exception("rescheduling session %d failed", session_id)
                self._storage.db.report(f"session {session_id}", f"{type(exc).__name__}: {exc}")

    async def _notify_pending(self) -> int:
        """Notices for the changes already rescheduled, then each marked processed (a crash
        in between repeats a notice attempt; the deliveries table sends it once)."""
        done = 0
        async with self._notifying:
            while changes := await self._storage.changes.pending(
                NOTICE_BATCH, upto=self._seen_change
            ):
                now = self._clock.now()
                sessions = await self._sessions_to_notify(changes, now)
                for change in changes:
                    session = sessions.get(change.session_id)
                    if session is None:
                        continue
                    try:
                        await self._notify(change, session, now)
                    except Exception as exc:  # one bad change must not stop the others
                        log.exception(
                            "change %d of session %d failed", change.id, change.session_id
                        )
                        self._storage.db.report(
                            f"change {change.id}", f"{type(exc).__name__}: {exc}"
                        )
                for planner in self._planners:
                    try:
                        await planner.changes_applied(changes, sessions)
                    except Exception as exc:  # a feature's failure must not stop the feed
                        log.exception("%s failed on a batch of changes", type(planner).__name__)
                        self._storage.db.report(
                            f"changes up to {changes[-1].id}", f"{type(exc).__name__}: {exc}"
                        )
                await self._storage.changes.mark_processed_many([c.id for c in changes])
                done += len(changes)
        return done

    async def _sessions_to_notify(
        self, changes: list[SessionChangeRecord], now: datetime
    ) -> dict[int, Session]:
        """The sessions a notice may be about: starting within the notice window, or moved
        away from it. Only those rows are read (an import that moved a whole programme would
        otherwise turn every row into a session just to find it is weeks away)."""
        window = (now, now + NOTICE_WINDOW)
        sessions = await self._storage.sessions.get_many(
            list(dict.fromkeys(c.session_id for c in changes)), starting=window
        )
        moved_away = [
            c.session_id
            for c in changes
            if c.session_id not in sessions
            and c.old_starts_at is not None
            and window[0] < c.old_starts_at <= window[1]
        ]
        if moved_away:
            sessions.update(await self._storage.sessions.get_many(list(dict.fromkeys(moved_away))))
        return sessions

    async def _notify(self, change: SessionChangeRecord, session: Session, now: datetime) -> None:
        if session.cancelled and change.kind != "cancelled":
            # Moved, relocated or re-imported while cancelled (or added already cancelled):
            # the members were told it is off, and it still is. Nothing to say.
            return
        restored = bool(change.old_cancelled) and not session.cancelled
        moved = change.old_starts_at is not None and change.old_starts_at != session.starts_at
        relocated = change.old_location is not None and change.old_location != session.location
        if change.kind == "changed" and not (moved or relocated or restored):
            return  # title or notes only: the schedule shows it; no need to buzz phones
        horizon = now + NOTICE_WINDOW
        relevant = [session.starts_at]
        if change.old_starts_at is not None:
            relevant.append(change.old_starts_at)
        if not any(now < t <= horizon for t in relevant):
            return
        cohort = await self._storage.cohorts.get(session.cohort_id)
        if cohort is None:
            return
        members = await self._storage.users.members_of(cohort.id)
        await self._sender.deliver_all(
            "notice",
            str(change.id),
            [u for u, m in members if u.reachable and m.joined_at <= change.created_at],
            lambda tr: Outgoing(self._notice_text(change, session, cohort, tr, now)),
        )

    def _notice_text(
        self,
        change: SessionChangeRecord,
        session: Session,
        cohort: Cohort,
        tr: Translator,
        now: datetime,
    ) -> str:
        title = escape(session.title.get(tr.language))
        this_year = now.astimezone(cohort.tz).year

        def when(moment: datetime) -> str:
            """Inside a sentence; with the year when it is not this one."""
            local_day = moment.astimezone(cohort.tz).date()
            day = day_name(local_day, tr, year=local_day.year != this_year)
            return f"{escape(day)}, {hhmm(moment, cohort)}"

        if change.kind == "cancelled":
            text = "❌ " + tr("Cancelled: <b>{title}</b>, {when}.").format(
                title=title, when=when(session.starts_at)
            )
            if session.cancel_reason:
                text += "\n" + escape(session.cancel_reason)
            return text
        if change.old_cancelled and not session.cancelled:
            text = "✅ " + tr("Back on the schedule: <b>{title}</b>, {when}.").format(
                title=title, when=when(session.starts_at)
            )
        elif change.kind == "added":
            text = "🆕 " + tr("New in your schedule: <b>{title}</b>, {when}.").format(
                title=title, when=when(session.starts_at)
            )
        elif change.old_starts_at is not None and change.old_starts_at != session.starts_at:
            # Each date stands alone on its line: no preposition has to agree with it.
            text = "🔁 " + tr("<b>{title}</b> has moved.\nWas: {old}\nNow: {new}").format(
                title=title, old=when(change.old_starts_at), new=when(session.starts_at)
            )
        else:
            text = "📍 " + tr("<b>{title}</b> ({when}) is now in another place.").format(
                title=title, when=when(session.starts_at)
            )
        if session.location:
            text += f"\n📍 {escape(session.location.get(tr.language))}"
        return text
