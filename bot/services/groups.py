"""The cohort's group chats: the pinned day card kept up to date, announcements, lifecycle.

A group is public: what is posted there is the cohort's plan, the same for every member, and
never a name, an id or a roster. A group is bound to one cohort (a forum group to one topic);
a cohort may have several groups.

The day card is a `TimedPlanner`: one item per bound group and day at the cohort-local card
time (`BOT_DAY_CARD_TIME`, or the group's own), planned with the reminders' horizon and rebuilt
at start. Each batch of session changes (every path: commands, imports, the CLI in another
process) edits today's card in place once and posts ONE short notice per group. Every post is
claimed in `group_posts` before it is sent (the `deliveries` table is per person), so a restart
neither posts a card twice nor forgets which message to edit. Sends go through the one rate
limiter (`PriorityRateLimiter`: 20 a minute per group within the global budget) with
`Priority.TIMED`; announcements' group copies with `Priority.BULK`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot.callbacks import CallbackData
from bot.clock import Clock
from bot.config import Settings
from bot.formatting import day_name, day_text, fit_message, hhmm
from bot.i18n import Catalogs, Translator
from bot.ratelimit import Priority, priority_args
from bot.scheduling import JobScheduler
from bot.services.checkin import checkin_button
from bot.services.delivery import Outgoing, Sender
from bot.services.reminders import HORIZON, TimedPlanner
from bot.storage import Storage
from bot.storage.groups import GroupChat
from bot.storage.models import Announcement, Cohort, Role, Session, SessionChangeRecord

log = logging.getLogger(__name__)

CARD = "card"
MAX_CARD_BUTTONS = 8  # a day has a handful of sessions; the card stays readable
NOTICE = "notice"
ANNOUNCEMENT = "announcement"
GROUP_ACK_ACTION = "gack"  # "Got it" under a group's copy of an announcement (anyone may press)
JOIN_ACTION = "gjoin"  # Approve / Decline of a join request, shown to a supervisor
NOTICE_LINES = 5  # changes listed in a group's notice; the rest are counted


def card_item(chat_id: int, day: date) -> str:
    return f"card:{chat_id}:{day.isoformat()}"


def chat_group(chat_id: int) -> str:
    """The timed-queue group of a chat's items: unlinking or a new card time drops them."""
    return f"groupchat:{chat_id}"


@dataclass(frozen=True)
class Sent:
    status: str  # sent, failed, gone (the bot is not in the group any more)
    message_id: int | None
    group: GroupChat | None  # the binding after the send (it follows a migration)


class GroupService(TimedPlanner):
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        settings: Settings,
        sender: Sender,
        scheduler: JobScheduler,
        catalogs: Catalogs,
        bot: Bot,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._sender = sender
        self._scheduler = scheduler
        self._catalogs = catalogs
        self._bot = bot
        self.horizon: datetime | None = None  # the reminders' horizon, when known

    def translator(self, group: GroupChat) -> Translator:
        return self._catalogs.get(group.language)

    def card_time(self, group: GroupChat) -> time:
        return group.card_time or self._settings.day_card_time

    # -- binding ---------------------------------------------------------------------------

    async def link(
        self,
        chat_id: int,
        cohort: Cohort,
        *,
        thread_id: int | None,
        title: str,
        language: str,
        linked_by: int,
    ) -> GroupChat:
        now = self._clock.now()
        await self._storage.groups.bind(
            chat_id, cohort.id, thread_id=thread_id, title=title, language=language,
            linked_by=linked_by, now=now,
        )  # fmt: skip
        group = await self._storage.groups.get(chat_id)
        assert group is not None
        self._scheduler.cancel_group(chat_group(chat_id))
        await self._plan_group(group, now, self._horizon(now), now)
        return group

    async def unlink(self, chat_id: int) -> bool:
        self._scheduler.cancel_group(chat_group(chat_id))
        return await self._storage.groups.unbind(chat_id)

    async def set_card_time(self, group: GroupChat, at: time | None) -> GroupChat:
        await self._storage.groups.set_card_time(group.chat_id, at)
        updated = await self._storage.groups.get(group.chat_id)
        assert updated is not None
        now = self._clock.now()
        self._scheduler.cancel_group(chat_group(group.chat_id))
        await self._plan_group(updated, now, self._horizon(now), now, catch_up=False)
        return updated

    async def migrated(self, old_chat_id: int, new_chat_id: int) -> GroupChat | None:
        """The group became a supergroup: the binding, its items and today's card follow."""
        if not await self._storage.groups.migrate(old_chat_id, new_chat_id):
            return None
        self._scheduler.cancel_group(chat_group(old_chat_id))
        group = await self._storage.groups.get(new_chat_id)
        if group is not None:
            now = self._clock.now()
            await self._plan_group(group, now, self._horizon(now), now)
        return group

    # -- the timed queue -------------------------------------------------------------------

    def _horizon(self, now: datetime) -> datetime:
        return self.horizon if self.horizon is not None and self.horizon > now else now + HORIZON

    async def plan_window(self, after: datetime, until: datetime, now: datetime) -> int:
        self.horizon = until
        if after <= now:  # start-up: posts cut off by a crash are made again
            await self._storage.groups.release_interrupted()
        count = 0
        for group in await self._storage.groups.all():
            count += await self._plan_group(group, after, until, now)
        return count

    async def _plan_group(
        self,
        group: GroupChat,
        after: datetime,
        until: datetime,
        now: datetime,
        *,
        catch_up: bool = True,
    ) -> int:
        """Cards due in (after, until]; at start or link, today's if its time has passed
        (posted once: a card already posted today is not posted again)."""
        cohort = await self._storage.cohorts.get(group.cohort_id)
        if cohort is None:
            return 0
        at = self.card_time(group)
        count = 0
        day = after.astimezone(cohort.tz).date()
        while (when := datetime.combine(day, at, tzinfo=cohort.tz)) <= until:
            due_now = catch_up and after <= now and day == now.astimezone(cohort.tz).date()
            if after < when or due_now:
                self._scheduler.at(
                    card_item(group.chat_id, day),
                    max(when, now),
                    self._card_item,
                    (group.chat_id, day),
                    group=chat_group(group.chat_id),
                )
                count += 1
            day += timedelta(days=1)
        return count

    async def _card_item(self, data: tuple[int, date]) -> None:
        chat_id, day = data
        group = await self._storage.groups.get(chat_id)
        if group is not None:
            await self.post_card(group, day)

    # -- the card --------------------------------------------------------------------------

    async def _day_sessions(self, cohort: Cohort, day: date) -> list[Session]:
        start = datetime.combine(day, time(0), tzinfo=cohort.tz)
        return await self._storage.sessions.starting_between(
            cohort.id, start, start + timedelta(days=1)
        )

    def card_text(self, cohort: Cohort, day: date, sessions: list[Session], tr: Translator) -> str:
        return "📌 " + day_text(day, sessions, cohort, tr)

    @staticmethod
    def card_markup(
        cohort: Cohort, sessions: list[Session], tr: Translator
    ) -> InlineKeyboardMarkup | None:
        """ "✋ I'm here" for each session of the day: whoever presses checks in for themselves
        (the answer is a private pop-up; nothing about who came is posted in the group)."""
        rows = [
            [checkin_button(s.id, tr, label=f"✋ {hhmm(s.starts_at, cohort)} · ")]
            for s in sessions
            if not s.cancelled
        ]
        return InlineKeyboardMarkup(rows[:MAX_CARD_BUTTONS]) if rows else None

    async def post_card(self, group: GroupChat, day: date) -> int | None:
        """Posts and pins the day's card once; returns its message id (None: nothing posted,
        a day without sessions or a card already posted)."""
        cohort = await self._storage.cohorts.get(group.cohort_id)
        if cohort is None:
            return None
        sessions = await self._day_sessions(cohort, day)
        if not sessions:
            return None  # a free day posts nothing
        groups = self._storage.groups
        ref = day.isoformat()
        if not await groups.claim_post(group.chat_id, CARD, ref, self._clock.now()):
            return None
        tr = self.translator(group)
        text = self.card_text(cohort, day, sessions, tr)
        markup = self.card_markup(cohort, sessions, tr)
        sent = await self._send(group, Outgoing(text, markup), Priority.TIMED)
        if sent.group is None:
            return None  # the bot is not in the group any more: the binding is gone
        await groups.finish_post(
            sent.group.chat_id, CARD, ref, status=sent.status, message_id=sent.message_id,
            text=text, now=self._clock.now(),
        )  # fmt: skip
        if sent.message_id is not None:
            await self._pin(sent.group, sent.message_id, ref)
        return sent.message_id

    async def _pin(self, group: GroupChat, message_id: int, ref: str) -> None:
        """Pins quietly and unpins the card pinned before; without the right, tells the staff
        member who linked the group, once."""
        limit = priority_args(self._bot, Priority.TIMED)
        try:
            await self._bot.pin_chat_message(
                group.chat_id, message_id, disable_notification=True, **limit
            )
        except BadRequest as exc:
            if "rights" in str(exc).lower() or "admin" in str(exc).lower():
                await self._tell_linker_no_pin(group)
            else:
                log.warning("could not pin the card in a group: %s", exc)
            return
        except TelegramError as exc:
            log.warning("could not pin the card in a group: %s", exc)
            return
        groups = self._storage.groups
        await groups.set_pinned(group.chat_id, CARD, ref, True)
        for old in await groups.pinned(group.chat_id, CARD):
            if old.ref == ref or old.message_id is None:
                continue
            try:
                await self._bot.unpin_chat_message(group.chat_id, old.message_id, **limit)
            except TelegramError as exc:  # unpinned by hand meanwhile: nothing to do
                log.info("could not unpin an old card: %s", exc)
            await groups.set_pinned(group.chat_id, CARD, old.ref, False)

    async def _tell_linker_no_pin(self, group: GroupChat) -> None:
        if group.linked_by is None or not await self._storage.groups.warn_once(group.chat_id):
            return
        user = await self._storage.users.get(group.linked_by)
        if user is None:
            return
        title = escape(group.title)
        await self._sender.deliver(
            "group_pin",
            f"{group.chat_id}:{self._clock.now():%Y%m%d%H%M%S}",
            user,
            lambda tr: Outgoing(
                "📌 "
                + tr(
                    "I posted the day's plan in «{title}» but could not pin it: I need the "
                    "right to pin messages there. Make me an admin with “Pin messages”, or "
                    "pin the card yourself."
                ).format(title=title)
            ),
        )

    # -- changes ---------------------------------------------------------------------------

    async def changes_applied(
        self, changes: list[SessionChangeRecord], sessions: dict[int, Session]
    ) -> None:
        """Today's card edited in place once per batch, and one short notice per group."""
        now = self._clock.now()
        cohorts: dict[int, Cohort | None] = {}
        touched: dict[int, list[SessionChangeRecord]] = {}  # cohort id -> today's changes
        for change in changes:
            session = sessions.get(change.session_id)
            if session is None:
                continue
            if session.cohort_id not in cohorts:
                cohorts[session.cohort_id] = await self._storage.cohorts.get(session.cohort_id)
            cohort = cohorts[session.cohort_id]
            if cohort is None:
                continue
            today = now.astimezone(cohort.tz).date()
            moments = [session.starts_at, change.old_starts_at]
            if any(m is not None and m.astimezone(cohort.tz).date() == today for m in moments):
                touched.setdefault(cohort.id, []).append(change)
        for cohort_id, today_changes in touched.items():
            cohort = cohorts[cohort_id]
            assert cohort is not None
            for group in await self._storage.groups.of_cohort(cohort_id):
                try:
                    await self.refresh_card(group, cohort, today_changes, sessions)
                except Exception:  # one group must not keep the others' cards stale
                    log.exception("refreshing the card of a group failed")

    async def refresh_card(
        self,
        group: GroupChat,
        cohort: Cohort,
        changes: list[SessionChangeRecord],
        sessions: dict[int, Session],
    ) -> bool:
        """Edits today's posted card if its text changed, then posts one notice; True if so."""
        now = self._clock.now()
        day = now.astimezone(cohort.tz).date()
        ref = day.isoformat()
        groups = self._storage.groups
        post = await groups.post(group.chat_id, CARD, ref)
        if post is None or post.status != "sent" or post.message_id is None:
            return False  # no card today yet: the morning's will show the change
        tr = self.translator(group)
        day_sessions = await self._day_sessions(cohort, day)
        text = self.card_text(cohort, day, day_sessions, tr)
        if text == post.text:
            return False  # notes only, or a change already shown
        updated = "✏️ " + tr("Updated at {time}.").format(time=hhmm(now, cohort))
        try:
            await self._bot.edit_message_text(
                fit_message(f"{text}\n\n{updated}"),
                chat_id=group.chat_id,
                message_id=post.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=self.card_markup(cohort, day_sessions, tr),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **priority_args(self._bot, Priority.TIMED),
            )
        except BadRequest as exc:
            if "message is not modified" not in str(exc).lower():
                log.warning("could not edit the card in a group: %s", exc)
                return False
        except ChatMigrated as exc:  # the old group's card stays there: a new one, in the new
            moved = await self.migrated(group.chat_id, exc.new_chat_id)
            if moved is not None:
                await self.post_card(moved, day)
            return moved is not None
        except Forbidden:
            await self.unlink(group.chat_id)
            return False
        await groups.edited(group.chat_id, CARD, ref, text, now)
        notice_ref = f"{ref}:{changes[-1].id}"
        if await groups.claim_post(group.chat_id, NOTICE, notice_ref, now):
            notice = self.notice_text(cohort, changes, sessions, tr)
            sent = await self._send(group, Outgoing(notice), Priority.TIMED)
            if sent.group is not None:
                await groups.finish_post(
                    sent.group.chat_id, NOTICE, notice_ref, status=sent.status,
                    message_id=sent.message_id, text=notice, now=self._clock.now(),
                )  # fmt: skip
        return True

    def notice_text(
        self,
        cohort: Cohort,
        changes: list[SessionChangeRecord],
        sessions: dict[int, Session],
        tr: Translator,
    ) -> str:
        """One short notice for a whole batch: what changed, the first few, counted."""
        latest: dict[int, SessionChangeRecord] = {}
        for change in changes:  # a session changed twice in the batch is listed once
            latest[change.session_id] = change
        lines = []
        for change in latest.values():
            session = sessions.get(change.session_id)
            if session is None:
                continue
            title = escape(session.title.get(tr.language))
            at = hhmm(session.starts_at, cohort)
            if session.cancelled:
                lines.append(f"❌ {at} <s>{title}</s>")
            elif change.old_starts_at is not None and change.old_starts_at != session.starts_at:
                new_day = session.starts_at.astimezone(cohort.tz).date()
                if new_day != change.old_starts_at.astimezone(cohort.tz).date():
                    at = f"{escape(day_name(new_day, tr))}, {at}"  # moved to another day
                lines.append(f"🔁 {title}: {hhmm(change.old_starts_at, cohort)} → {at}")
            elif change.kind == "added" or change.old_cancelled:
                lines.append(f"🆕 {at} {title}")
            else:
                place = escape(session.location.get(tr.language)) if session.location else ""
                lines.append(f"📍 {at} {title}" + (f": {place}" if place else ""))
        n = len(lines)
        header = "🔔 " + tr.ngettext(
            "{n} change to today's plan. The pinned card is up to date.",
            "{n} changes to today's plan. The pinned card is up to date.",
            n,
        ).format(n=n)
        shown = lines[:NOTICE_LINES]
        if n > NOTICE_LINES:
            more = n - NOTICE_LINES
            shown.append(tr.ngettext("…and {n} more.", "…and {n} more.", more).format(n=more))
        return "\n".join([header, *shown])

    # -- announcements ---------------------------------------------------------------------

    async def groups_for(self, cohort_id: int | None) -> list[GroupChat]:
        if cohort_id is None:
            return await self._storage.groups.all()
        return await self._storage.groups.of_cohort(cohort_id)

    async def post_announcement(self, announcement: Announcement) -> int:
        """The group copy of an announcement, once per group, with the same "Got it"; returns
        how many groups it went to. Nothing personal: not even the sender's name."""
        posted = 0
        cohorts: dict[int, Cohort | None] = {}
        for group in await self.groups_for(announcement.cohort_id):
            now = self._clock.now()
            ref = str(announcement.id)
            if not await self._storage.groups.claim_post(group.chat_id, ANNOUNCEMENT, ref, now):
                continue
            if group.cohort_id not in cohorts:
                cohorts[group.cohort_id] = await self._storage.cohorts.get(group.cohort_id)
            cohort = cohorts[group.cohort_id]
            tr = self.translator(group)
            header = "📣 <b>" + tr("Announcement") + "</b>"
            if cohort is not None:
                header += f" · {escape(cohort.code)}"
            text = f"{header}\n\n{escape(announcement.text)}"
            sent = await self._send(
                group, Outgoing(text, group_ack_keyboard(announcement.id, tr)), Priority.BULK
            )
            if sent.group is not None:
                await self._storage.groups.finish_post(
                    sent.group.chat_id, ANNOUNCEMENT, ref, status=sent.status,
                    message_id=sent.message_id, text=text, now=self._clock.now(),
                )  # fmt: skip
            posted += sent.status == "sent"
        return posted

    async def acknowledge(self, announcement_id: int, user_id: int) -> bool:
        return await self._storage.groups.acknowledge(announcement_id, user_id, self._clock.now())

    # -- join requests ---------------------------------------------------------------------

    async def join_requested(self, chat_id: int, user_id: int, name: str) -> str:
        """approved (a member of the cohort), pending (a supervisor was asked) or ignored."""
        group = await self._storage.groups.get(chat_id)
        if group is None or not group.join_approval:
            return "ignored"
        memberships = await self._storage.users.memberships(user_id)
        if any(m.cohort_id == group.cohort_id for m in memberships):
            try:
                await self._bot.approve_chat_join_request(chat_id, user_id)
            except TelegramError as exc:
                log.warning("could not approve a join request: %s", exc)
                return "ignored"
            return "approved"
        request_id = await self._storage.groups.add_request(chat_id, user_id, self._clock.now())
        cohort = await self._storage.cohorts.get(group.cohort_id)
        if cohort is None:
            return "ignored"
        staff = [
            u
            for u, m in await self._storage.users.members_of(cohort.id)
            if m.role is Role.SUPERVISOR and u.reachable
        ]
        if not staff and group.linked_by is not None:
            linker = await self._storage.users.get(group.linked_by)
            staff = [linker] if linker is not None else []
        stamp = f"{request_id}:{self._clock.now():%Y%m%d%H%M%S}"
        for person in staff:
            await self._sender.deliver(
                "group_join",
                stamp,
                person,
                lambda tr, p=person.telegram_id: Outgoing(
                    "🚪 "
                    + tr(
                        "{name} asks to join the group chat «{title}» and is not a member of "
                        "{cohort} in the bot. Let them in?"
                    ).format(
                        name=escape(name),
                        title=escape(group.title),
                        cohort=escape(cohort.name.get(tr.language)),
                    ),
                    join_keyboard(p, request_id, tr),
                ),
            )
        return "pending"

    async def decide_join(self, request_id: int, approve: bool) -> str:
        """approved, declined, decided (before), or gone (no such request or group)."""
        groups = self._storage.groups
        request = await groups.request(request_id)
        if request is None:
            return "gone"
        if request.status != "pending":
            return "decided"
        try:
            if approve:
                await self._bot.approve_chat_join_request(request.chat_id, request.user_id)
            else:
                await self._bot.decline_chat_join_request(request.chat_id, request.user_id)
        except BadRequest as exc:
            log.info("join request already handled on Telegram: %s", exc)
        except TelegramError as exc:
            log.warning("could not decide a join request: %s", exc)
            return "gone"
        status = "approved" if approve else "declined"
        return status if await groups.decide(request_id, status) else "decided"

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, group: GroupChat, outgoing: Outgoing, priority: Priority) -> Sent:
        """A send to the group's chat (its topic in a forum): followed once to a supergroup's
        new id; a group the bot is not in any more is unlinked."""
        for attempt in (1, 2):
            extra = dict(outgoing.extra)
            if group.thread_id is not None:
                extra["message_thread_id"] = group.thread_id
            try:
                status, error, message_id = await self._sender.send_once(
                    group.chat_id, Outgoing(outgoing.text, outgoing.markup, extra), priority
                )
            except ChatMigrated as exc:
                moved = await self._storage.groups.migrate(group.chat_id, exc.new_chat_id)
                new = await self._storage.groups.get(exc.new_chat_id) if moved else None
                if new is None or attempt == 2:
                    return Sent("failed", None, new)
                self._scheduler.cancel_group(chat_group(group.chat_id))
                group = new
                now = self._clock.now()
                await self._plan_group(group, now, self._horizon(now), now, catch_up=False)
                continue
            if status == "unreachable":  # kicked, left, or the chat is gone
                log.info("the bot is not in a group any more (%s): unlinked", error)
                await self.unlink(group.chat_id)
                return Sent("gone", None, None)
            return Sent(status, message_id, group)
        raise AssertionError("unreachable")  # pragma: no cover


def group_ack_keyboard(announcement_id: int, tr: Translator) -> InlineKeyboardMarkup:
    """The group copy's "Got it": anyone may press it (user 0), the press says who."""
    data = CallbackData(GROUP_ACK_ACTION, 0, str(announcement_id)).encode()
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("✅ " + tr.pgettext("button", "Got it"), callback_data=data)]]
    )


def join_keyboard(user_id: int, request_id: int, tr: Translator) -> InlineKeyboardMarkup:
    def button(label: str, arg: str) -> InlineKeyboardButton:
        data = CallbackData(JOIN_ACTION, user_id, f"{arg}:{request_id}").encode()
        return InlineKeyboardButton(label, callback_data=data)

    return InlineKeyboardMarkup(
        [[button("✅ " + tr.pgettext("button", "Approve"), "a"),
          button(tr.pgettext("button", "Decline"), "d")]]
    )  # fmt: skip
