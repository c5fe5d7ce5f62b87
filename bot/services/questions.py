"""The question desk: students ask, staff take and answer, unowned questions escalate.

A question goes privately to the cohort's supervisors (the coordinators when it has none).
Every bot message about a question is recorded in `reply_targets`, so a Telegram reply to it
continues that question's thread: staff's replies are answers, the student's are follow-ups.
Photos and documents pass through with copyMessage (nothing is uploaded again).

An open question nobody has taken goes to the coordinators once, after `escalation_minutes`
of daytime in the cohort's zone (08:00-22:00). The instant is stored with the question; the
item on the timed queue is planned when the question is asked and again by `plan_window`, so
a restart loses nothing, and the `deliveries` record ("escalation") keeps it to once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.callbacks import CallbackData
from bot.clock import Clock
from bot.config import Settings
from bot.formatting import local_moment
from bot.i18n import Translator
from bot.ratelimit import Priority, priority_args
from bot.scheduling import JobScheduler
from bot.services.delivery import Outgoing, Sender
from bot.services.reminders import TimedPlanner
from bot.storage import Storage
from bot.storage.models import Cohort, Role, User
from bot.storage.questions import ANSWERED, CLOSED, FaqEntry, Question

log = logging.getLogger(__name__)

QUESTION_ACTION = "q"
MAX_QUESTION = 3000  # characters of a question or an answer
MAX_OPEN = 5  # unclosed questions a student may have
MAX_PER_HOUR = 10
QUOTE = 300  # characters of a question quoted back
DAY_STARTS = time(8, 0)
NIGHT_STARTS = time(22, 0)


def daytime_after(start: datetime, minutes: int, zone: tzinfo) -> datetime:
    """`start` plus `minutes` of daytime (08:00-22:00 in `zone`): the night does not count."""
    local = start.astimezone(zone)
    left = timedelta(minutes=minutes)
    while True:
        day_start = datetime.combine(local.date(), DAY_STARTS, tzinfo=zone)
        night = datetime.combine(local.date(), NIGHT_STARTS, tzinfo=zone)
        if local < day_start:
            local = day_start
        elif local >= night:
            local = day_start + timedelta(days=1)
            continue
        if local + left <= night:
            return local + left
        left -= night - local
        local = day_start + timedelta(days=1)


_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "the and for are you can what where when how does with this that have from there here"
    " который как где что когда это для или есть можно нужно ли".split()
)


def _stems(text: str) -> set[str]:
    """Words of four letters or more, cut to five: crude, but it matches "dormitory" with
    "dormitories" and "общежитие" with "общежитии" in all three languages alike."""
    return {
        w[:5]
        for w in (m.group().lower() for m in _WORD.finditer(text))
        if len(w) >= 4 and w not in _STOP and not w.isdigit()
    }


def faq_match(entries: list[FaqEntry], text: str) -> FaqEntry | None:
    """The FAQ entry whose question shares the most words with `text`: two words at least,
    or every word of a short entry question."""
    asked = _stems(text)
    best: tuple[int, FaqEntry] | None = None
    for entry in entries:
        words = set().union(*(_stems(getattr(entry.question, c)) for c in ("en", "ru", "uz")))
        shared = len(asked & words)
        if shared >= 2 or (shared >= 1 and len(words) <= 2):
            if best is None or shared > best[0]:
                best = (shared, entry)
    return best[1] if best else None


def age_text(delta: timedelta, tr: Translator) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return tr("{m} min").format(m=minutes)
    if minutes < 48 * 60:
        return tr("{h} h {m} min").format(h=minutes // 60, m=minutes % 60)
    return tr.ngettext("{n} day", "{n} days", minutes // 1440).format(n=minutes // 1440)


def quote(text: str) -> str:
    short = text if len(text) <= QUOTE else text[: QUOTE - 1] + "…"
    return f"<blockquote>{escape(short)}</blockquote>" if short else ""


@dataclass(frozen=True)
class Asked:
    status: str  # asked | too_long | too_many_open | too_many_hour
    question: Question | None = None


class QuestionService(TimedPlanner):
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        settings: Settings,
        sender: Sender,
        scheduler: JobScheduler,
        bot: Bot,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._sender = sender
        self._scheduler = scheduler
        self._bot = bot

    # -- asking ---------------------------------------------------------------------------

    async def check_limits(self, student_id: int, text: str) -> str:
        if len(text) > MAX_QUESTION:
            return "too_long"
        questions = self._storage.questions
        if await questions.open_count(student_id) >= MAX_OPEN:
            return "too_many_open"
        since = self._clock.now() - timedelta(hours=1)
        if await questions.asked_since(student_id, since) >= MAX_PER_HOUR:
            return "too_many_hour"
        return "ok"

    async def ask(
        self, student: User, cohort: Cohort, text: str, source_message: int, has_media: bool
    ) -> Asked:
        """Creates the question, sends it to the cohort's staff and plans its escalation."""
        status = await self.check_limits(student.telegram_id, text)
        if status != "ok":
            return Asked(status)
        now = self._clock.now()
        escalate_at = daytime_after(now, self._settings.escalation_minutes, cohort.tz)
        qid = await self._storage.questions.create(
            cohort.id, student.telegram_id, text, source_message, has_media, now, escalate_at
        )
        question = await self._storage.questions.get(qid)
        assert question is not None
        supervisors = [
            u
            for u, m in await self._storage.users.members_of(cohort.id)
            if m.role is Role.SUPERVISOR and u.reachable
        ]
        reached = 0
        for staff in supervisors:
            reached += await self._send_question(staff, question, student, cohort, "new")
        if reached == 0:  # nobody to take it: the coordinators hear of it at once
            await self.escalate(qid)
        else:
            self._plan_escalation(question)
        return Asked("asked", question)

    # -- what staff receive ---------------------------------------------------------------

    async def _send_question(
        self, staff: User, question: Question, student: User, cohort: Cohort, why: str,
        kind: str | None = None,
    ) -> int:  # fmt: skip
        """The question (or a follow-up) to one staff member: a header with the buttons, then
        the student's photo or file copied under it. 1 when delivered."""
        tr = self._sender.translator(staff)
        text = await self.staff_text(question, tr, why=why, student=student, cohort=cohort)
        outgoing = Outgoing(text, self.staff_keyboard(question, staff.telegram_id, tr))
        if kind is not None:  # a timed send: claimed first, so it happens once
            if not await self._storage.deliveries.claim(
                kind, str(question.id), staff.telegram_id, self._clock.now()
            ):
                return 0
        status, error, message_id = await self._sender.send_once(staff.telegram_id, outgoing)
        if kind is not None:
            await self._storage.deliveries.finish(
                kind, str(question.id), staff.telegram_id, status, self._clock.now(), error
            )
        if message_id is None:
            if status == "unreachable":
                await self._storage.users.set_reachable(staff.telegram_id, False)
            return 0
        await self._storage.questions.link(staff.telegram_id, message_id, "question", question.id)
        if question.has_media and question.source_message is not None and why != "followup":
            await self.copy(
                staff.telegram_id, question.student_id, question.source_message, question.id,
                reply_to=message_id,
            )  # fmt: skip
        return 1

    async def staff_text(
        self,
        question: Question,
        tr: Translator,
        *,
        why: str = "new",
        student: User | None = None,
        cohort: Cohort | None = None,
        body: str | None = None,
    ) -> str:
        storage = self._storage
        student = student or await storage.users.get(question.student_id)
        cohort = cohort or await storage.cohorts.get(question.cohort_id)
        name = escape(student.display_name if student else str(question.student_id))
        code = escape(cohort.code if cohort else "")
        if why == "followup":
            head = "↩️ " + tr("Question #{n}: {student} ({group}) adds:")
        elif why == "escalated":
            head = "⏰ " + tr("Question #{n} from {student} ({group}) has no owner yet:")
        else:
            head = "❓ " + tr("Question #{n} from {student} ({group}):")
        lines = [head.format(n=question.id, student=name, group=code)]
        shown = question.text if body is None else body
        if shown:
            lines.append(quote(shown))
        if question.has_media and why != "followup":
            lines.append("📎 " + tr("With a photo or file: see below."))
        if cohort is not None:
            lines.append(
                "🕓 " + tr("Asked {when}").format(
                    when=escape(local_moment(question.created_at, cohort.tz, tr))
                )
            )  # fmt: skip
        lines.append(await self._state_line(question, tr))
        lines.append("<i>" + tr("Reply to this message to answer.") + "</i>")
        return "\n".join(lines)

    async def _state_line(self, question: Question, tr: Translator) -> str:
        owner = None
        if question.owner_id is not None:
            user = await self._storage.users.get(question.owner_id)
            owner = escape(user.display_name if user else str(question.owner_id))
        if question.status == CLOSED:
            return "✅ " + tr("Closed.")
        if question.status == ANSWERED:
            return "💬 " + tr("Answered by {name}.").format(name=owner or "—")
        if owner:
            return "🙋 " + tr("Taken by {name}.").format(name=owner)
        return "⏳ " + tr("Nobody has taken it yet.")

    def staff_keyboard(
        self, question: Question, uid: int, tr: Translator
    ) -> InlineKeyboardMarkup | None:
        def button(label: str, action: str) -> InlineKeyboardButton:
            arg = f"{action}:{question.id}"
            return InlineKeyboardButton(
                label, callback_data=CallbackData(QUESTION_ACTION, uid, arg).encode()
            )

        if question.status == CLOSED:
            return None  # an edit without buttons removes them
        row = [button("✍️ " + tr.pgettext("button", "Answer"), "ans")]
        if question.owner_id is None:  # once someone owns it, "I'll take it" is gone
            row.append(button("🙋 " + tr.pgettext("button", "I'll take it"), "take"))
        row.append(button("✖️ " + tr.pgettext("button", "Close"), "close"))
        return InlineKeyboardMarkup([row])

    async def refresh_staff_messages(self, question_id: int) -> None:
        """Every staff member's copy of the question shows who owns it and where it stands."""
        question = await self._storage.questions.get(question_id)
        if question is None:
            return
        headers: dict[int, int] = {}  # a staff chat's first message of the question
        for chat_id, message_id in await self._storage.questions.links(question_id):
            if chat_id != question.student_id:
                headers[chat_id] = min(message_id, headers.get(chat_id, message_id))
        for chat_id, message_id in headers.items():  # follow-ups and copies keep their text
            staff = await self._storage.users.get(chat_id)
            if staff is None:
                continue
            tr = self._sender.translator(staff)
            text = await self.staff_text(question, tr)
            try:
                await self._bot.edit_message_text(
                    text, chat_id, message_id, parse_mode="HTML",
                    reply_markup=self.staff_keyboard(question, chat_id, tr),
                )  # fmt: skip
            except TelegramError as exc:  # a deleted message, "not modified"
                log.debug("question %d: header not edited: %s", question_id, exc)

    # -- taking, answering, closing -------------------------------------------------------

    async def take(self, question: Question, staff: User) -> bool:
        taken = await self._storage.questions.take(question.id, staff.telegram_id)
        if taken:
            self._scheduler.cancel(escalation_item(question.id))
            await self.refresh_staff_messages(question.id)
        return taken

    async def answer(
        self, question: Question, staff: User, text: str, source: tuple[int, int], has_media: bool
    ) -> str:
        """Sends staff's answer to the student: "sent", "undelivered" (kept) or "closed"."""
        if question.status == CLOSED:
            return "closed"
        storage = self._storage
        now = self._clock.now()
        await storage.questions.take(question.id, staff.telegram_id)  # answering takes it
        self._scheduler.cancel(escalation_item(question.id))
        message_id = await storage.questions.add_message(
            question.id, staff.telegram_id, True, text, source, has_media, now
        )
        await storage.questions.mark_answered(question.id, now)
        student = await storage.users.get(question.student_id)
        delivered = student is not None and await self._deliver_answer(
            question, staff, student, text, source, has_media
        )
        if not delivered:
            await storage.questions.set_delivered(message_id, False)
        await self.refresh_staff_messages(question.id)
        return "sent" if delivered else "undelivered"

    async def _deliver_answer(
        self,
        question: Question,
        staff: User,
        student: User,
        text: str,
        source: tuple[int, int],
        has_media: bool,
    ) -> bool:
        tr = self._sender.translator(student)
        lines = [
            "💬 " + tr("Answer to your question #{n} from {name}:").format(
                n=question.id, name=escape(staff.display_name)
            ),
            quote(question.text),
        ]  # fmt: skip
        if text and not has_media:
            lines.append(escape(text))
        lines.append("<i>" + tr("Reply to this message to ask more.") + "</i>")
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton(
                "✅ " + tr.pgettext("button", "Solved"),
                callback_data=CallbackData(
                    QUESTION_ACTION, student.telegram_id, f"solved:{question.id}"
                ).encode(),
            )]]
        )  # fmt: skip
        extra = {}
        if question.source_message is not None:
            extra["reply_parameters"] = ReplyParameters(
                question.source_message, allow_sending_without_reply=True
            )
        status, _, message_id = await self._sender.send_once(
            student.telegram_id,
            Outgoing("\n".join(p for p in lines if p), keyboard, extra),
            Priority.REPLY,
        )
        if message_id is None:
            if status == "unreachable":
                await self._storage.users.set_reachable(student.telegram_id, False)
            return False
        student_id = student.telegram_id
        await self._storage.questions.link(student_id, message_id, "question", question.id)
        if has_media:
            return await self.copy(
                student.telegram_id, source[0], source[1], question.id, reply_to=message_id
            )
        return True

    async def follow_up(
        self, question: Question, student: User, text: str, source: int, has_media: bool
    ) -> str:
        """The student adds to their question: it goes to its owner, else to the staff who
        have it. "sent", "closed" or "nobody"."""
        if question.status == CLOSED:
            return "closed"
        storage = self._storage
        now = self._clock.now()
        await storage.questions.add_message(
            question.id, student.telegram_id, False, text, (student.telegram_id, source),
            has_media, now,
        )  # fmt: skip
        await storage.questions.reopen(question.id)
        question = await storage.questions.get(question.id) or question
        if question.owner_id is not None:
            targets = [question.owner_id]
        else:
            targets = sorted(
                {c for c, _ in await storage.questions.links(question.id)} - {student.telegram_id}
            )
        cohort = await storage.cohorts.get(question.cohort_id)
        sent = 0
        for uid in targets:
            staff = await storage.users.get(uid)
            if staff is None or cohort is None:
                continue
            tr = self._sender.translator(staff)
            body = await self.staff_text(
                question, tr, why="followup", student=student, cohort=cohort, body=text
            )
            _, _, message_id = await self._sender.send_once(
                uid, Outgoing(body, self.staff_keyboard(question, uid, tr)), Priority.REPLY
            )
            if message_id is None:
                continue
            sent += 1
            await storage.questions.link(uid, message_id, "question", question.id)
            if has_media:
                await self.copy(uid, student.telegram_id, source, question.id, reply_to=message_id)
        return "sent" if sent else "nobody"

    async def close(self, question: Question, by: User) -> bool:
        closed = await self._storage.questions.close(question.id, self._clock.now())
        if closed:
            self._scheduler.cancel(escalation_item(question.id))
            await self.refresh_staff_messages(question.id)
            if by.telegram_id != question.student_id:
                student = await self._storage.users.get(question.student_id)
                if student is not None and student.reachable:
                    tr = self._sender.translator(student)
                    await self._sender.send_once(
                        student.telegram_id,
                        Outgoing(
                            "✅ " + tr("Your question #{n} has been closed by the staff. "
                                      "Send /ask if you need anything else.").format(n=question.id)
                        ),
                        Priority.REPLY,
                    )  # fmt: skip
        return closed

    async def copy(
        self, chat_id: int, from_chat: int, message_id: int, question_id: int, reply_to: int
    ) -> bool:
        """A photo or document passed on as it is (copyMessage: never uploaded again)."""
        try:
            copied = await self._bot.copy_message(
                chat_id, from_chat, message_id,
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True),
                **priority_args(self._bot, Priority.REPLY),
            )  # fmt: skip
        except Forbidden:
            await self._storage.users.set_reachable(chat_id, False)
            return False
        except BadRequest as exc:  # the original was deleted: the text still went
            log.warning("could not copy a message of question %d: %s", question_id, exc)
            return False
        await self._storage.questions.link(chat_id, copied.message_id, "question", question_id)
        return True

    # -- escalation on the timed queue ----------------------------------------------------

    def _plan_escalation(self, question: Question) -> None:
        self._scheduler.at(
            escalation_item(question.id), question.escalate_at, self._escalation_due, question.id
        )

    async def plan_window(self, after: datetime, until: datetime, now: datetime) -> int:
        """Every escalation due by `until` not made yet (at start: also those that fell due
        while the bot was down; they go out now)."""
        questions = await self._storage.questions.to_escalate(until)
        for question in questions:
            self._plan_escalation(question)
        return len(questions)

    async def _escalation_due(self, question_id: int) -> None:
        await self.escalate(question_id)

    async def escalate(self, question_id: int) -> int:
        """Sends an unowned open question to every coordinator, once; returns how many."""
        storage = self._storage
        question = await storage.questions.get(question_id)
        if (
            question is None
            or question.status != "open"
            or question.owner_id is not None
            or question.escalated_at is not None
        ):
            return 0
        student = await storage.users.get(question.student_id)
        cohort = await storage.cohorts.get(question.cohort_id)
        if student is None or cohort is None:
            return 0
        sent = 0
        for coordinator in await storage.users.coordinators():
            sent += await self._send_question(
                coordinator, question, student, cohort, "escalated", kind="escalation"
            )
        await storage.questions.mark_escalated(question_id, self._clock.now())
        return sent


def escalation_item(question_id: int) -> str:
    return f"escalation:{question_id}"
