"""The arrival checklist: what each student must do by when, tracked and chased.

A task's due date is a day in the cohort's zone, given as a date or relative to the cohort's
arrival or departure ("arrival+3d"); it is resolved when read, so it follows the cohort's
dates. A task is overdue once its due day is over in the cohort's zone.

Timed messages are two items a day per cohort on the one timed queue: at 10:00 cohort time the
reminders (tasks due tomorrow and due today, to each student who has not done them), at 09:00
the supervisor's list of who missed yesterday's deadlines. The items read the checklist when
they run, so an import (from chat or from the command line in another process) needs no
re-planning; each send goes through `Sender.deliver`, so a restart repeats nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.callbacks import CallbackData
from bot.clock import Clock
from bot.i18n import N_, Translator
from bot.parsing import parse_date
from bot.scheduling import JobScheduler
from bot.services.delivery import Outgoing, Render, Sender
from bot.services.reminders import TimedPlanner
from bot.storage import Storage
from bot.storage.models import Cohort, Role, User
from bot.storage.tasks import DONE, PROOF_SENT, Task, TaskProgress

log = logging.getLogger(__name__)

TASK_ACTION = "tsk"
REMIND_AT = time(10, 0)  # cohort time: the day before and on the due date
OVERDUE_AT = time(9, 0)  # cohort time, the morning after a due date
PROOF_WAIT = timedelta(days=1)  # how long "send your proof" waits for the photo
MAX_OFFSET_DAYS = 999

_DUE_RE = re.compile(r"^(arrival|departure)(?:([+-])(\d{1,4})d)?$", re.IGNORECASE)

# Reasons a proof is sent back, chosen by a button: each reaches the student in their language.
REJECT_REASONS = (
    N_("The photo is blurred or cut off; please take it again."),
    N_("This is not the document asked for."),
    N_("A page, a stamp or a signature is missing."),
)


@dataclass(frozen=True)
class DueRule:
    """When a task is due: a fixed day, or days from the cohort's arrival or departure."""

    day: date | None = None
    anchor: str = ""  # "arrival" | "departure"
    offset: int = 0

    def resolve(self, arrives: date, departs: date) -> date:
        if self.day is not None:
            return self.day
        base = arrives if self.anchor == "arrival" else departs
        return base + timedelta(days=self.offset)


def parse_due(text: str) -> DueRule | None:
    """`2026-09-18`, `arrival`, `arrival+3d`, `departure-2d`; None for anything else."""
    text = text.strip()
    day = parse_date(text)
    if day is not None:
        return DueRule(day=day)
    match = _DUE_RE.match(text)
    if match is None:
        return None
    offset = int(match[3] or 0)
    if offset > MAX_OFFSET_DAYS:
        return None
    return DueRule(anchor=match[1].lower(), offset=-offset if match[2] == "-" else offset)


def due_date(task: Task, cohort: Cohort) -> date | None:
    rule = parse_due(task.due)
    return None if rule is None else rule.resolve(cohort.arrives, cohort.departs)


def deadline_of(day: date, cohort: Cohort) -> datetime:
    """The instant a due day ends in the cohort's zone."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=cohort.tz)


class State(StrEnum):
    DONE = "done"
    PROOF_SENT = "proof_sent"  # waiting for staff to check it
    OPEN = "open"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class TaskView:
    task: Task
    due: date
    deadline: datetime
    state: State
    progress: TaskProgress | None = None


def view_of(task: Task, cohort: Cohort, progress: TaskProgress | None, now: datetime) -> TaskView:
    due = due_date(task, cohort) or cohort.arrives
    deadline = deadline_of(due, cohort)
    if progress is not None and progress.status == DONE:
        state = State.DONE
    elif progress is not None and progress.status == PROOF_SENT:
        state = State.PROOF_SENT
    elif now >= deadline:
        state = State.OVERDUE
    else:
        state = State.OPEN
    return TaskView(task, due, deadline, state, progress)


def time_left(delta: timedelta, tr: Translator) -> str:
    """Days and hours (minutes under an hour): a deadline is a day, not a minute."""
    minutes = max(0, int(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(tr.ngettext("{n} day", "{n} days", days).format(n=days))
    if hours:
        parts.append(tr.ngettext("{n} hour", "{n} hours", hours).format(n=hours))
    if not parts:
        parts.append(tr.ngettext("{n} minute", "{n} minutes", mins).format(n=mins))
    return " ".join(parts)


def mention(user: User) -> str:
    """A name staff can tap to open the person's chat."""
    return f'<a href="tg://user?id={user.telegram_id}">{escape(user.display_name)}</a>'


class Outcome(StrEnum):
    """What became of a student's or a staff member's action; the handler says it."""

    DONE = "done"
    ALREADY = "already"
    NOT_FOUND = "not_found"  # no such task in a cohort of theirs
    NEEDS_PROOF = "needs_proof"
    NO_PROOF_NEEDED = "no_proof_needed"
    SENT = "sent"
    NOBODY = "nobody"  # no staff could receive the proof
    REFUSED = "refused"


@dataclass(frozen=True)
class Found:
    cohort: Cohort
    task: Task


class TaskService(TimedPlanner):
    def __init__(
        self, storage: Storage, clock: Clock, sender: Sender, scheduler: JobScheduler, bot: Bot
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._sender = sender
        self._scheduler = scheduler
        self._bot = bot

    # -- reading ----------------------------------------------------------------------------------

    async def checklist(self, cohort: Cohort, user_id: int) -> list[TaskView]:
        tasks = await self._storage.tasks.for_cohort(cohort.id)
        progress = await self._storage.tasks.progress_of(user_id, cohort.id)
        now = self._clock.now()
        return [view_of(t, cohort, progress.get(t.id), now) for t in tasks]

    async def students(self, cohort: Cohort) -> list[User]:
        members = await self._storage.users.members_of(cohort.id)
        return [u for u, m in members if m.role is Role.STUDENT]

    async def overview(
        self, cohort: Cohort
    ) -> tuple[list[User], list[tuple[Task, dict[int, TaskView]]]]:
        """The students, and per task each student's view of it."""
        students = await self.students(cohort)
        tasks = await self._storage.tasks.for_cohort(cohort.id)
        by_key = {
            (p.task_id, p.user_id): p for p in await self._storage.tasks.progress_in(cohort.id)
        }
        now = self._clock.now()
        table = [
            (t, {u.telegram_id: view_of(t, cohort, by_key.get((t.id, u.telegram_id)), now)
                 for u in students})
            for t in tasks
        ]  # fmt: skip
        return students, table

    async def _students_task(self, user_id: int, task_id: int) -> Found | None:
        """The task, if it is on the checklist of a group where this user is a student."""
        task = await self._storage.tasks.get(task_id)
        if task is None or task.removed:
            return None
        memberships = await self._storage.users.memberships(user_id)
        if not any(m.cohort_id == task.cohort_id and m.role is Role.STUDENT for m in memberships):
            return None
        cohort = await self._storage.cohorts.get(task.cohort_id)
        return None if cohort is None else Found(cohort, task)

    # -- a student's actions ----------------------------------------------------------------------

    async def tick(self, user_id: int, task_id: int) -> Outcome:
        found = await self._students_task(user_id, task_id)
        if found is None:
            return Outcome.NOT_FOUND
        if found.task.needs_proof:
            return Outcome.NEEDS_PROOF
        done = await self._storage.tasks.mark_done(task_id, user_id, self._clock.now())
        return Outcome.DONE if done else Outcome.ALREADY

    async def ask_proof(self, user_id: int, task_id: int) -> tuple[Outcome, Task | None]:
        found = await self._students_task(user_id, task_id)
        if found is None:
            return Outcome.NOT_FOUND, None
        if not found.task.needs_proof:
            return Outcome.NO_PROOF_NEEDED, found.task
        progress = await self._storage.tasks.progress(task_id, user_id)
        if progress is not None and progress.status == DONE:
            return Outcome.ALREADY, found.task
        await self._storage.tasks.await_proof(user_id, task_id, self._clock.now())
        return Outcome.SENT, found.task

    async def submit_proof(
        self, student: User, message_id: int, caption: Callable[[Translator, Task], str]
    ) -> tuple[Outcome, Task | None] | None:
        """The student's photo or document, if one is awaited: copied (not re-uploaded) to the
        group's supervisors (the coordinators when it has none), with Accept / Reject. None
        when no proof is awaited: the message is not ours to answer."""
        tasks = self._storage.tasks
        waiting = await tasks.awaited(student.telegram_id)
        if waiting is None:
            return None
        task_id, since = waiting
        now = self._clock.now()
        await tasks.stop_awaiting(student.telegram_id)
        if now - since > PROOF_WAIT:
            return None
        found = await self._students_task(student.telegram_id, task_id)
        if found is None:
            return Outcome.NOT_FOUND, None
        task = found.task
        if not task.needs_proof:
            return Outcome.NO_PROOF_NEEDED, task
        progress = await tasks.progress(task_id, student.telegram_id)
        if progress is not None and progress.status == DONE:
            return Outcome.ALREADY, task
        staff = [u for u, m in await self._storage.users.members_of(found.cohort.id)
                 if m.role is Role.SUPERVISOR and u.reachable]  # fmt: skip
        if not staff:
            staff = [u for u in await self._storage.users.coordinators() if u.reachable]
        copied = 0
        for person in staff:
            tr = self._sender.translator(person)
            try:
                await self._bot.copy_message(
                    chat_id=person.telegram_id,
                    from_chat_id=student.telegram_id,
                    message_id=message_id,
                    caption=caption(tr, task),
                    parse_mode=ParseMode.HTML,
                    reply_markup=decision_markup(
                        person.telegram_id, task.id, student.telegram_id, message_id, tr
                    ),
                )
                copied += 1
            except TelegramError as exc:
                log.warning("could not copy a proof to a staff member: %s", exc)
        if not copied:
            return Outcome.NOBODY, task
        await tasks.proof_sent(task_id, student.telegram_id, message_id, now)
        return Outcome.SENT, task

    # -- staff actions ----------------------------------------------------------------------------

    async def decide(
        self,
        staff_id: int,
        cohort: Cohort,
        task: Task,
        student_id: int,
        proof: int,
        reason: int | None,
    ) -> Outcome:
        """Accept (reason None) or reject the proof that was the student's message `proof`;
        the student is told in their language. A decision on an older proof does nothing."""
        now = self._clock.now()
        accept = reason is None
        text = "" if accept else REJECT_REASONS[reason]  # type: ignore[index]
        decided = await self._storage.tasks.decide(
            task.id, student_id, proof, accept, staff_id, text, now
        )
        if not decided:
            return Outcome.ALREADY
        await self._storage.audit.record(
            now, staff_id, cohort.id, "task_accept" if accept else "task_reject",
            f"user {student_id}", after=_audited(task, text),
        )  # fmt: skip
        student = await self._storage.users.get(student_id)
        if student is not None and student.reachable:

            def render(tr: Translator) -> Outgoing:
                title = escape(task.title.get(tr.language))
                if accept:
                    return Outgoing("✅ " + tr("Your proof for “{task}” was accepted.").format(
                        task=title))  # fmt: skip
                body = "↩️ " + tr("Your proof for “{task}” was sent back:").format(task=title)
                body += "\n" + escape(tr(text)) + "\n" + tr("Please send a new one.")
                return Outgoing(body, proof_markup(student_id, task.id, tr))

            await self._sender.send_once(student_id, render(self._sender.translator(student)))
        return Outcome.DONE

    async def mark_by_hand(
        self, staff_id: int, cohort: Cohort, task: Task, student_id: int
    ) -> Outcome:
        """Staff ticks a task for a student (papers handed over in person); audited."""
        students = {u.telegram_id: u for u in await self.students(cohort)}
        student = students.get(student_id)
        if student is None or task.cohort_id != cohort.id:
            return Outcome.NOT_FOUND
        now = self._clock.now()
        if not await self._storage.tasks.mark_done(task.id, student_id, now, marked_by=staff_id):
            return Outcome.ALREADY
        await self._storage.tasks.stop_awaiting(student_id)
        await self._storage.audit.record(
            now, staff_id, cohort.id, "task_done", f"user {student_id}", after=_audited(task)
        )
        if student.reachable:
            tr = self._sender.translator(student)
            title = escape(task.title.get(tr.language))
            await self._sender.send_once(
                student_id,
                Outgoing(
                    "✅ " + tr("Your supervisor marked “{task}” as done.").format(task=title)
                ),
            )
        return Outcome.DONE

    # -- timed items ------------------------------------------------------------------------------

    async def plan_window(self, after: datetime, until: datetime, now: datetime) -> int:
        """Two items per cohort and day. Re-planned from now on each call (an item of that
        name is replaced), so a cohort imported since is covered within the hour; at start,
        what fell due earlier today still runs (the deliveries table sends it once)."""
        count = 0
        for cohort in await self._storage.cohorts.all():
            local_now = now.astimezone(cohort.tz)
            first = max(local_now.date(), cohort.arrives - timedelta(days=1))
            last = min(until.astimezone(cohort.tz).date(), cohort.departs + timedelta(days=1))
            day = first
            while day <= last:
                for name, at, callback in (
                    ("task_due", REMIND_AT, self._due_item),
                    ("task_overdue", OVERDUE_AT, self._overdue_item),
                ):
                    when = datetime.combine(day, at, tzinfo=cohort.tz)
                    if when > until:
                        continue
                    starting = after <= now
                    if when <= now and not (starting and day == local_now.date()):
                        continue  # past, and not today's catch-up after a restart
                    self._scheduler.at(
                        f"{name}:{cohort.id}:{day.isoformat()}", max(when, now), callback,
                        (cohort.id, day),
                    )  # fmt: skip
                    count += 1
                day += timedelta(days=1)
        return count

    async def _due_item(self, data: tuple[int, date]) -> None:
        await self.send_due_reminders(*data)

    async def _overdue_item(self, data: tuple[int, date]) -> None:
        await self.send_overdue_list(*data)

    async def send_due_reminders(self, cohort_id: int, day: date) -> dict[str, int]:
        """On `day` (cohort time): each open task due tomorrow or today, to each student who
        has not done it; nothing once the day is over."""
        cohort = await self._storage.cohorts.get(cohort_id)
        tally: dict[str, int] = {}
        if cohort is None:
            return tally
        now = self._clock.now()
        if now.astimezone(cohort.tz).date() != day:
            return tally  # stale
        students, table = await self.overview(cohort)
        by_id = {u.telegram_id: u for u in students}
        sends: list[tuple[str, str, User, Render]] = []
        for task, views in table:
            for user_id, view in views.items():
                if view.state is not State.OPEN or view.due not in (day, day + timedelta(1)):
                    continue
                user = by_id[user_id]
                if not user.reachable:
                    continue
                when = "day" if view.due == day else "eve"
                sends.append((
                    "task_due", f"{task.id}:{view.due.isoformat()}:{when}", user,
                    lambda tr, v=view, u=user_id: self._reminder(v, tr, u),
                ))  # fmt: skip
        return await self._sender.deliver_many(sends)

    def _reminder(self, view: TaskView, tr: Translator, user_id: int) -> Outgoing:
        task = view.task
        title = escape(task.title.get(tr.language))
        left = time_left(view.deadline - self._clock.now(), tr)
        if view.due == self._clock.now().astimezone(view.deadline.tzinfo).date():
            head = tr("Due today: <b>{task}</b> ({left} left)").format(task=title, left=left)
        else:
            head = tr("Due tomorrow: <b>{task}</b> ({left} left)").format(task=title, left=left)
        lines = ["⏳ " + head, *detail_lines(task, tr)]
        return Outgoing("\n".join(lines), task_markup(view, tr, user_id))

    async def send_overdue_list(self, cohort_id: int, day: date) -> dict[str, int]:
        """On the morning of `day`: who missed a task due yesterday, one list per supervisor."""
        cohort = await self._storage.cohorts.get(cohort_id)
        if cohort is None or self._clock.now().astimezone(cohort.tz).date() != day:
            return {}
        students, table = await self.overview(cohort)
        names = {u.telegram_id: u for u in students}
        missed = [
            (task, [names[uid] for uid, v in views.items() if v.state is State.OVERDUE])
            for task, views in table
            if due_date(task, cohort) == day - timedelta(days=1)
        ]
        missed = [(task, people) for task, people in missed if people]
        if not missed:
            return {}
        supervisors = [u for u, m in await self._storage.users.members_of(cohort.id)
                       if m.role is Role.SUPERVISOR and u.reachable]  # fmt: skip

        def render(tr: Translator) -> Outgoing:
            lines = ["❗ <b>" + escape(tr("Overdue since yesterday")) + "</b>"]
            for task, people in missed:
                lines.append(f"\n<b>{escape(task.title.get(tr.language))}</b> ({len(people)})")
                lines += [f"• {mention(u)}" for u in people]
            lines.append("\n" + tr("Details: /tasks {code}").format(code=escape(cohort.code)))
            return Outgoing("\n".join(lines))

        return await self._sender.deliver_all(
            "task_overdue", f"{cohort.id}:{day.isoformat()}", supervisors, render
        )

    async def digest_lines(
        self, cohort: Cohort, tomorrow: date
    ) -> dict[int, Callable[[Translator], list[str]]]:
        """For the evening plan: per student, their open tasks due tomorrow."""
        _, table = await self.overview(cohort)
        due: dict[int, list[Task]] = {}
        for task, views in table:
            for user_id, view in views.items():
                if view.due == tomorrow and view.state is State.OPEN:
                    due.setdefault(user_id, []).append(task)

        def lines_of(tasks: list[Task]) -> Callable[[Translator], list[str]]:
            def lines(tr: Translator) -> list[str]:
                head = "📋 " + tr.ngettext(
                    "Due tomorrow ({n} task):", "Due tomorrow ({n} tasks):", len(tasks)
                ).format(n=len(tasks))
                return [head] + [f"• {escape(t.title.get(tr.language))}" for t in tasks]

            return lines

        return {uid: lines_of(tasks) for uid, tasks in due.items()}


def _audited(task: Task, reason: str = "") -> str:
    """What an audit entry keeps of a task (data, shown as it is): id, title, the reason."""
    return " · ".join(p for p in (task.external_id, str(task.title), reason) if p)


def detail_lines(task: Task, tr: Translator, indent: str = "") -> list[str]:
    lines = []
    details = task.details.get(tr.language)
    if details:
        lines.append(f"{indent}📝 {escape(details)}")
    if task.link:
        lines.append(f"{indent}🔗 {escape(task.link)}")  # Telegram makes it a link
    return lines


def button(label: str, user_id: int, arg: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        label, callback_data=CallbackData(TASK_ACTION, user_id, arg).encode()
    )


def short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_markup(view: TaskView, tr: Translator, user_id: int) -> InlineKeyboardMarkup | None:
    """A reminder's button: Done, or Send a proof."""
    if view.state not in (State.OPEN, State.OVERDUE) or not user_id:
        return None
    return InlineKeyboardMarkup([[task_button(view.task, tr, user_id)]])


def task_button(
    task: Task, tr: Translator, user_id: int, *, listed: bool = False
) -> InlineKeyboardButton:
    """Done (or Send a proof); `listed`: under the checklist, which a press redraws."""
    title = short(task.title.get(tr.language))
    where = ":l" if listed else ""
    if task.needs_proof:
        return button("📎 " + title, user_id, f"p:{task.id}{where}")
    return button("✅ " + title, user_id, f"d:{task.id}{where}")


def proof_markup(user_id: int, task_id: int, tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button("📎 " + tr.pgettext("button", "Send a proof"), user_id, f"p:{task_id}")]]
    )


def decision_markup(
    staff_id: int, task_id: int, student_id: int, proof: int, tr: Translator
) -> InlineKeyboardMarkup:
    ref = f"{task_id}:{student_id}:{proof}"
    return InlineKeyboardMarkup(
        [
            [
                button("✅ " + tr.pgettext("button", "Accept"), staff_id, f"a:{ref}"),
                button("↩️ " + tr.pgettext("button", "Reject"), staff_id, f"r:{ref}"),
            ]
        ]
    )


def reasons_markup(
    staff_id: int, task_id: int, student_id: int, proof: int, tr: Translator
) -> InlineKeyboardMarkup:
    ref = f"{task_id}:{student_id}:{proof}"
    rows = [
        [button(short(tr(reason), 60), staff_id, f"x{i}:{ref}")]
        for i, reason in enumerate(REJECT_REASONS)
    ]
    rows.append([button("⬅️ " + tr.pgettext("button", "Back"), staff_id, f"b:{ref}")])
    return InlineKeyboardMarkup(rows)
