"""Feedback after sessions and the end-of-programme survey, both on the one timed queue.

At a session's end its members get one prompt, "How was <title>?", with 1-5 buttons (the item
`feedback:<session>` in the session's group: a moved or cancelled session re-plans or drops
it). On the cohort's departure day at SURVEY_AT every student gets the survey's first question
(`survey:<cohort>`), the next after each answer. Both go through `Sender.deliver_all` (kinds
"feedback" and "survey"): a restart or a second firing sends nothing twice.

Anonymous by design: staff read averages, counts and comments, never who gave them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import CallbackData
from bot.clock import Clock
from bot.i18n import Translator
from bot.scheduling import JobScheduler
from bot.services.delivery import Outgoing, Sender
from bot.services.export import _append  # text cells, formulas never evaluated
from bot.services.reminders import TimedPlanner, session_group
from bot.storage import Storage
from bot.storage.attendance import Status
from bot.storage.feedback import SurveyQuestion
from bot.storage.models import Cohort, Membership, Role, Session, User

FEEDBACK_ACTION = "fb"
SURVEY_ACTION = "sv"
# A prompt due while the bot was down still goes out this long after the session's end.
PROMPT_LATE = timedelta(hours=3)
# The longest session (a day of practicals) plus PROMPT_LATE: how far back, at start, sessions
# are planned for their prompt.
PROMPT_REACH = timedelta(hours=10) + PROMPT_LATE
SURVEY_AT = time(10, 0)  # local time on the departure day
SURVEY_LATE = timedelta(days=3)
MAX_COMMENT = 1000


def feedback_item(session_id: int) -> str:
    return f"feedback:{session_id}"


@dataclass(frozen=True)
class PromptJob:
    session_id: int
    ends_at: datetime  # the end this prompt was planned for


class FeedbackService(TimedPlanner):
    reach = PROMPT_REACH

    def __init__(
        self, storage: Storage, clock: Clock, sender: Sender, scheduler: JobScheduler
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._sender = sender
        self._scheduler = scheduler
        self._surveys_planned: set[int] = set()

    # -- prompts after sessions -----------------------------------------------------------

    def plan_session(self, session: Session, now: datetime) -> int:
        if session.ends_at + PROMPT_LATE < now:
            return 0
        self._scheduler.at(
            feedback_item(session.id),
            session.ends_at,
            self._prompt_due,
            PromptJob(session.id, session.ends_at),
            group=session_group(session.id),
        )
        return 1

    def recipients(
        self,
        session: Session,
        members: list[tuple[User, Membership]],
        off: set[int],
        attended: set[int] | None = None,
    ) -> list[User]:
        """Who is asked about a session: its students who were members by its end and have
        not turned the prompts off; when anyone's attendance was recorded for the session
        (`attended`: those present or late), only those who were there; when nobody's was
        (the group does not use check-in), all of them."""
        return [
            u
            for u, m in members
            if m.role is Role.STUDENT
            and u.reachable
            and u.telegram_id not in off
            and m.joined_at <= session.ends_at
            and (attended is None or u.telegram_id in attended)
        ]

    async def _prompt_due(self, job: PromptJob) -> None:
        await self.send_prompts(job)

    async def send_prompts(self, job: PromptJob) -> dict[str, int]:
        session = await self._storage.sessions.get(job.session_id)
        if session is None or session.cancelled or session.ends_at != job.ends_at:
            return {}  # cancelled or moved since: its new item is planned already
        if session.ends_at + PROMPT_LATE < self._clock.now():
            return {}
        members = await self._storage.users.members_of(session.cohort_id)
        off = await self._storage.feedback.prompts_off([u.telegram_id for u, _ in members])
        records = await self._storage.attendance.for_session(session.id)
        attended = {uid for uid, r in records.items() if r.status in (Status.PRESENT, Status.LATE)}
        return await self._deliver_each(
            "feedback",
            str(session.id),
            self.recipients(session, members, off, attended if records else None),
            lambda uid, tr: Outgoing(
                prompt_text(session, tr, None), rating_keyboard(session.id, uid, tr, None)
            ),
        )

    async def _deliver_each(
        self,
        kind: str,
        ref: str,
        users: list[User],
        render: Callable[[int, Translator], Outgoing],
    ) -> dict[str, int]:
        """`Sender.deliver` to each user, side by side, with buttons bound to that user."""
        return await self._sender.deliver_many(
            (kind, ref, u, lambda tr, uid=u.telegram_id: render(uid, tr)) for u in users
        )

    # -- the survey -----------------------------------------------------------------------

    async def plan_window(self, after: datetime, until: datetime, now: datetime) -> int:
        count = 0
        for cohort_id in await self._storage.feedback.cohorts_with_survey():
            if cohort_id in self._surveys_planned:
                continue
            cohort = await self._storage.cohorts.get(cohort_id)
            if cohort is None:
                continue
            due = survey_due(cohort)
            if due > until or now > due + SURVEY_LATE:
                continue
            self._surveys_planned.add(cohort_id)
            self._scheduler.at(f"survey:{cohort_id}", due, self._survey_due, cohort_id)
            count += 1
        return count

    async def _survey_due(self, cohort_id: int) -> None:
        await self.send_survey(cohort_id)

    async def send_survey(self, cohort_id: int) -> dict[str, int]:
        questions = await self._storage.feedback.survey(cohort_id)
        if not questions:
            return {}
        members = await self._storage.users.members_of(cohort_id)
        students = [u for u, m in members if m.role is Role.STUDENT and u.reachable]
        return await self._deliver_each(
            "survey",
            str(cohort_id),
            students,
            lambda uid, tr: survey_message(questions, 0, uid, tr, intro=True),
        )

    async def export_survey(self, cohort: Cohort) -> bytes:
        """The answers as XLSX: one anonymous row per respondent, one column per question."""
        questions = await self._storage.feedback.survey(cohort.id)
        answers = await self._storage.feedback.survey_answers(cohort.id)
        from openpyxl import Workbook  # imported when needed: it costs a start-up 0.1 s

        book = Workbook()
        sheet = book.active
        sheet.title = "answers"
        _append(sheet, ["respondent", *[q.qid for q in questions]])
        for n, person in enumerate(answers, start=1):
            _append(sheet, [str(n), *[person.get(q.qid, "") for q in questions]])
        listing = book.create_sheet("questions")
        _append(listing, ["question_id", "type", "text_en", "text_ru", "text_uz"])
        for q in questions:
            _append(listing, [q.qid, q.type, q.text.en, q.text.ru, q.text.uz])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def survey_due(cohort: Cohort) -> datetime:
    return datetime.combine(cohort.departs, SURVEY_AT, tzinfo=cohort.tz)


# -- what members see -------------------------------------------------------------------------


def prompt_text(session: Session, tr: Translator, rating: int | None) -> str:
    from html import escape

    title = escape(session.title.get(tr.language))
    lines = ["📝 " + tr("How was <b>{title}</b>?").format(title=title)]
    if rating is None:
        lines.append(
            tr(
                "Tap 1 (poor) to 5 (excellent). Anonymous: staff see only averages and "
                "comments, never names."
            )
        )
    else:
        lines.append("✅ " + tr("Thank you! Your rating: {n} of 5.").format(n=rating))
        lines.append(
            tr("You can change it, or reply to this message with a comment (anonymous too).")
        )
    return "\n".join(lines)


def rating_keyboard(
    session_id: int, uid: int, tr: Translator, rating: int | None
) -> InlineKeyboardMarkup:
    def button(label: str, arg: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            label, callback_data=CallbackData(FEEDBACK_ACTION, uid, arg).encode()
        )

    row = [
        button(("✅ " if n == rating else "") + str(n), f"{session_id}:{n}") for n in range(1, 6)
    ]
    rows = [row]
    if rating is not None:
        rows.append([button("💬 " + tr.pgettext("button", "Add a comment"), f"{session_id}:c")])
    return InlineKeyboardMarkup(rows)


def survey_message(
    questions: list[SurveyQuestion], index: int, uid: int, tr: Translator, *, intro: bool = False
) -> Outgoing:
    from html import escape

    question = questions[index]
    lines = []
    if intro:
        lines += [
            "📋 " + tr.ngettext(
                "End-of-programme survey: {n} short question. Your answers are anonymous.",
                "End-of-programme survey: {n} short questions. Your answers are anonymous.",
                len(questions),
            ).format(n=len(questions)),
            "",
        ]  # fmt: skip
    lines.append(f"{index + 1}/{len(questions)}. <b>{escape(question.text.get(tr.language))}</b>")
    cohort = question.cohort_id

    def button(label: str, value: str) -> InlineKeyboardButton:
        arg = f"{cohort}:{index}:{value}"
        return InlineKeyboardButton(
            label, callback_data=CallbackData(SURVEY_ACTION, uid, arg).encode()
        )

    skip = button(tr.pgettext("button", "Skip"), "s")
    if question.type == "rating":
        rows = [[button(str(n), str(n)) for n in range(1, 6)], [skip]]
    elif question.type == "yesno":
        yes, no = tr.pgettext("button", "Yes"), tr.pgettext("button", "No")
        rows = [[button(yes, "y"), button(no, "n"), skip]]
    else:
        lines.append(tr("Press Answer, then write your answer as a message."))
        rows = [[button("✍️ " + tr.pgettext("button", "Answer"), "w"), skip]]
    return Outgoing("\n".join(lines), InlineKeyboardMarkup(rows))
