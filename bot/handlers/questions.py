"""/ask, /questions, /faq, the desk's buttons, and every message that is not a command.

A message that is not a command is, in this order: a reply to a bot message of a question
(staff answer, the student adds) or of a feedback prompt (a comment); the next message a
pending step waits for (after /ask, Answer, "Add a comment", a survey's free-text question);
else the help pointer with a button that sends it to the staff as a question.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.handlers import tasks
from bot.handlers.common import (
    action_and_id,
    cohort_for,
    current_cohort,
    edit,
    edit_markup,
    how_to_join,
    pressed,
    refuse,
    reply,
    usage,
)
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.questions import (
    MAX_OPEN,
    MAX_PER_HOUR,
    MAX_QUESTION,
    QUESTION_ACTION,
    age_text,
    faq_match,
    quote,
)
from bot.storage.models import Cohort
from bot.storage.questions import CLOSED, FaqEntry, PendingStep, Question

STEP_TTL = timedelta(minutes=30)  # a pending "next message is..." is forgotten after this


@dataclass(frozen=True)
class Content:
    """What a message carries, as the desk sees it."""

    text: str
    has_media: bool
    sticker: bool
    message_id: int


def content_of(message: Message) -> Content:
    return Content(
        text=(message.text or message.caption or "").strip(),
        has_media=bool(message.photo or message.document),
        sticker=message.sticker is not None,
        message_id=message.message_id,
    )


def _button(uid: int, label: str, arg: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        label, callback_data=CallbackData(QUESTION_ACTION, uid, arg).encode()
    )


def offer_markup(uid: int, message_id: int, tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(uid, "📨 " + tr.pgettext("button", "Send this as a question to the staff"),
                  f"send:{message_id}")]]
    )  # fmt: skip


def limit_text(status: str, tr: Translator, length: int = 0) -> str:
    if status == "too_long":
        return tr(
            "Your question is too long ({n} characters). Please keep it under {max} characters."
        ).format(n=length, max=MAX_QUESTION)
    if status == "too_many_open":
        return tr(
            "You already have {max} open questions. Mark an answered one ✅ Solved, or wait "
            "for the answers, before asking more."
        ).format(max=MAX_OPEN)
    return tr(
        "You have sent {max} questions in the last hour. Please wait a little before asking more."
    ).format(max=MAX_PER_HOUR)


def sticker_text(tr: Translator) -> str:
    return tr(
        "A sticker can't be a question. Please write it in words (you can add a photo or a file)."
    )


def receipt_text(question: Question, tr: Translator) -> str:
    return "📨 " + tr(
        "Your question #{n} is with the staff. The answer will come here; /questions shows "
        "your questions."
    ).format(n=question.id)


# -- asking ---------------------------------------------------------------------------------


async def ask(update: Update, context: BotContext) -> None:
    message = update.effective_message
    cohort = await current_cohort(update, context, Permission.ASK_QUESTION)
    if cohort is None or message is None or context.user is None:
        return
    tr = context.tr
    text = (message.text or "").partition(" ")[2].strip()
    if "\n" in (message.text or "").split(" ", 1)[0]:  # "/ask\nquestion..."
        text = (message.text or "").partition("\n")[2].strip()
    storage = context.services.storage
    if not text:
        await storage.questions.set_step(
            context.user.telegram_id, "ask", context.services.clock.now()
        )
        await reply(
            update,
            tr("Write your question in your next message: text, a photo or a file."),
        )
        return
    await submit(update, context, cohort, Content(text, False, False, message.message_id))


async def submit(
    update: Update,
    context: BotContext,
    cohort: Cohort,
    content: Content,
    *,
    check_faq: bool = True,
    answer_to: Message | None = None,
) -> None:
    """A student's question: the FAQ first when it seems to answer it, else to the staff.
    `answer_to` is the bot message whose button sent it (edited instead of a new reply)."""
    services = context.services
    user = context.user
    assert user is not None
    tr = context.tr

    async def say(text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        if answer_to is not None and update.callback_query is not None:
            await edit(update.callback_query, text, markup)
        else:
            await reply(update, text, markup)

    if content.sticker:
        await say(sticker_text(tr))
        return
    status = await services.questions.check_limits(user.telegram_id, content.text)
    if status != "ok":
        await say(limit_text(status, tr, len(content.text)))
        return
    if check_faq and content.text:
        entry = faq_match(await services.storage.questions.faq(cohort.id), content.text)
        if entry is not None:
            await services.storage.questions.set_step(
                user.telegram_id, "faq", services.clock.now(), ref_id=entry.id,
                text=content.text, source_message=content.message_id,
                has_media=content.has_media,
            )  # fmt: skip
            uid = user.telegram_id
            keyboard = InlineKeyboardMarkup(
                [[
                    _button(uid, "👍 " + tr.pgettext("button", "Yes, thanks"),
                            f"faqyes:{content.message_id}"),
                    _button(uid, "📨 " + tr.pgettext("button", "No, send to staff"),
                            f"faqno:{content.message_id}"),
                ]]
            )  # fmt: skip
            await say(
                "📖 " + tr("This may answer it:") + "\n\n" + faq_text(entry, tr.language)
                + "\n\n" + tr("Does this answer your question?"),
                keyboard,
            )  # fmt: skip
            return
    asked = await services.questions.ask(
        user, cohort, content.text, content.message_id, content.has_media
    )
    if asked.question is None:
        await say(limit_text(asked.status, tr, len(content.text)))
        return
    await say(receipt_text(asked.question, tr))


def faq_text(entry: FaqEntry, language: str) -> str:
    return f"<b>{escape(entry.question.get(language))}</b>\n{escape(entry.answer.get(language))}"


# -- the messages that are not commands -----------------------------------------------------


async def incoming(update: Update, context: BotContext) -> None:
    message = update.effective_message
    user = context.user
    if message is None or user is None:
        return
    services = context.services
    storage = services.storage
    content = content_of(message)
    target = None
    if message.reply_to_message is not None:
        target = await storage.questions.target(
            user.telegram_id, message.reply_to_message.message_id
        )
    if target is not None and target[0] == "question":
        await continue_thread(update, context, target[1], content)
        return
    if target is not None and target[0] == "feedback":
        from bot.handlers import feedback  # the feedback prompts share this entry point

        await feedback.comment_reply(update, context, target[1], content)
        return
    if await tasks.proof_received(update, context):  # a photo or file a task waited for
        return
    step = await storage.questions.step(user.telegram_id)
    if step is not None and services.clock.now() - step.created_at <= STEP_TTL:
        if await run_step(update, context, step, content):
            return
    prefix = ""
    if message.reply_to_message is not None:
        prefix = context.tr("That message is not part of a question.") + "\n"
    await point_to_help(update, context, content, prefix)


async def point_to_help(
    update: Update, context: BotContext, content: Content, prefix: str = ""
) -> None:
    """The help pointer; to a member, with a button that sends the message to the staff."""
    user = context.user
    tr = context.tr
    if user is None or (user.cohort_id is None and not context.actor.is_coordinator):
        await reply(update, how_to_join(context))
        return
    text = prefix + tr("I answer commands, not messages. Send /help to see what I can do.")
    if content.sticker or not allowed(context.actor, Permission.ASK_QUESTION, user.cohort_id):
        await reply(update, text)
        return
    if context.actor.is_coordinator and not context.actor.member_of(user.cohort_id):
        await reply(update, text)
        return
    services = context.services
    await services.storage.questions.set_step(
        user.telegram_id, "offer", services.clock.now(), text=content.text,
        source_message=content.message_id, has_media=content.has_media,
    )  # fmt: skip
    await reply(update, text, offer_markup(user.telegram_id, content.message_id, tr))


async def run_step(
    update: Update, context: BotContext, step: PendingStep, content: Content
) -> bool:
    """Handles the message a pending step waits for; False when this step does not take it."""
    user = context.user
    assert user is not None
    storage = context.services.storage
    tr = context.tr
    if step.step == "ask":
        cohort = await current_cohort(update, context, Permission.ASK_QUESTION)
        if cohort is None:
            return True
        if content.sticker:
            await reply(update, sticker_text(tr))  # the step stays: the next message counts
            return True
        if not await storage.questions.take_step(user.telegram_id, "ask", step.created_at):
            return True
        await submit(update, context, cohort, content)
        return True
    if step.step == "answer" and step.ref_id is not None:
        if content.sticker:
            await reply(update, tr("A sticker can't be an answer. Please write it in words."))
            return True
        if not await storage.questions.take_step(user.telegram_id, "answer", step.created_at):
            return True
        await staff_answer(update, context, step.ref_id, content)
        return True
    if step.step in ("comment", "survey"):
        from bot.handlers import feedback

        return await feedback.run_step(update, context, step, content)
    return False


async def continue_thread(
    update: Update, context: BotContext, question_id: int, content: Content
) -> None:
    """A reply to a bot message of a question: staff answer it, the student adds to it."""
    user = context.user
    assert user is not None
    tr = context.tr
    question = await context.services.storage.questions.get(question_id)
    if question is None:
        await reply(update, tr("This question no longer exists."))
        return
    if question.student_id == user.telegram_id:
        if content.sticker:
            await reply(update, sticker_text(tr))
            return
        if len(content.text) > MAX_QUESTION:
            await reply(update, limit_text("too_long", tr, len(content.text)))
            return
        result = await context.services.questions.follow_up(
            question, user, content.text, content.message_id, content.has_media
        )
        if result == "closed":
            await reply(update, closed_text(question, tr, student=True))
        elif result == "nobody":
            await reply(
                update,
                tr("Saved with question #{n}; the staff will see it in /questions.").format(
                    n=question.id
                ),
            )
        else:
            await reply(update, "📨 " + tr("Added to your question #{n}.").format(n=question.id))
        return
    await staff_answer(update, context, question_id, content)


def closed_text(question: Question, tr: Translator, *, student: bool = False) -> str:
    if student:
        return tr(
            "Question #{n} is closed, so this was not sent. Send /ask to ask a new question."
        ).format(n=question.id)
    return tr("Question #{n} is closed: your message was not sent to the student.").format(
        n=question.id
    )


async def staff_answer(
    update: Update, context: BotContext, question_id: int, content: Content
) -> None:
    user = context.user
    assert user is not None
    tr = context.tr
    services = context.services
    question = await services.storage.questions.get(question_id)
    if question is None or not allowed(
        context.actor, Permission.ANSWER_QUESTIONS, question.cohort_id
    ):
        await reply(update, refuse(context))
        return
    if content.sticker:
        await reply(update, tr("A sticker can't be an answer. Please write it in words."))
        return
    if len(content.text) > MAX_QUESTION:
        await reply(
            update,
            tr("Your answer is too long ({n} characters). Please keep it under {max}.").format(
                n=len(content.text), max=MAX_QUESTION
            ),
        )
        return
    result = await services.questions.answer(
        question, user, content.text, (user.telegram_id, content.message_id), content.has_media
    )
    if result == "closed":
        await reply(update, closed_text(question, tr))
        return
    student = await services.storage.users.get(question.student_id)
    name = escape(student.display_name if student else str(question.student_id))
    if result == "undelivered":
        await reply(
            update,
            "⚠️ " + tr(
                "Saved, but not delivered: {student} has blocked the bot. /questions shows it "
                "as undelivered."
            ).format(student=name),
        )  # fmt: skip
        return
    markup = None
    if content.text and question.text:
        markup = InlineKeyboardMarkup(
            [[_button(user.telegram_id, "📌 " + tr.pgettext("button", "Add to the FAQ"),
                      f"faq:{question.id}")]]
        )  # fmt: skip
    await reply(
        update,
        "✅ " + tr("Sent to {student} (question #{n}).").format(student=name, n=question.id),
        markup,
    )


# -- buttons --------------------------------------------------------------------------------


async def question_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    user = context.user
    if data is None or query is None or user is None:
        return
    tr = context.tr
    services = context.services
    storage = services.storage
    action, number = action_and_id(data)
    if number is None:
        await query.answer(tr("This button is out of date."))
        return
    if action in ("send", "faqyes", "faqno"):
        await offered_pressed(update, context, action, number)
        return
    question = await storage.questions.get(number)
    if action == "solved":
        if question is None or question.student_id != user.telegram_id:
            await query.answer(refuse(context), show_alert=True)
            return
        if await services.questions.close(question, user):
            await query.answer(tr("Glad it is solved!"))
        else:
            await query.answer(tr("This question is already closed."))
        await edit_markup(query, None)
        return
    if question is None or not allowed(
        context.actor, Permission.ANSWER_QUESTIONS, question.cohort_id
    ):
        await query.answer(refuse(context), show_alert=True)
        return
    if question.status == CLOSED and action in ("ans", "take", "close"):
        await query.answer(tr("This question is already closed."), show_alert=True)
        await edit_markup(query, None)
        return
    if action == "take":
        if await services.questions.take(question, user):
            await query.answer(tr("It's yours: reply to the question to answer it."))
        else:
            await query.answer(tr("Someone else has already taken it."), show_alert=True)
    elif action == "ans":
        await storage.questions.set_step(
            user.telegram_id, "answer", services.clock.now(), ref_id=question.id
        )
        await query.answer()
        await reply(
            update,
            tr("Write your answer to question #{n} in your next message: text, a photo or a "
               "file.").format(n=question.id),
        )  # fmt: skip
    elif action == "close":
        await services.questions.close(question, user)
        await query.answer(tr("Closed."))
    elif action == "faq":
        await add_to_faq(update, context, question)
    else:
        await query.answer(tr("This button is out of date."))


async def offered_pressed(
    update: Update, context: BotContext, action: str, source_message: int
) -> None:
    """ "Send this as a question" under the help pointer, and Yes / No under an FAQ offer."""
    query = update.callback_query
    user = context.user
    assert query is not None and user is not None
    tr = context.tr
    storage = context.services.storage
    step = await storage.questions.step(user.telegram_id)
    wanted = "offer" if action == "send" else "faq"
    if (
        step is None
        or step.step != wanted
        or step.source_message != source_message
        or not await storage.questions.take_step(user.telegram_id, wanted, step.created_at)
    ):
        await query.answer(tr("This button is out of date."))
        await edit_markup(query, None)
        return
    await query.answer()
    if action == "faqyes":
        await edit(query, "👍 " + tr("Glad it helped! /faq lists the frequent questions."))
        return
    cohort = await current_cohort(update, context, Permission.ASK_QUESTION)
    if cohort is None:
        return
    content = Content(step.text, step.has_media, False, source_message)
    await submit(
        update, context, cohort, content, check_faq=action == "send", answer_to=query.message
    )


async def add_to_faq(update: Update, context: BotContext, question: Question) -> None:
    query = update.callback_query
    user = context.user
    assert query is not None and user is not None
    tr = context.tr
    storage = context.services.storage
    answers = [m for m in await storage.questions.messages(question.id) if m.from_staff and m.text]
    if not answers or not question.text:
        await query.answer(tr("There is no written answer to add."), show_alert=True)
        return
    entry = await storage.questions.add_faq(
        question.cohort_id, tr.language, question.text, answers[-1].text, question.id,
        user.telegram_id, context.services.clock.now(),
    )  # fmt: skip
    if not entry:
        await query.answer(tr("It is in the FAQ already."))
    else:
        await query.answer(tr("Added to the FAQ."))
        await reply(
            update,
            "📌 " + tr(
                "Added to the FAQ as #{n}. To add it in another language: /faq {n} ru "
                "question | answer"
            ).format(n=entry),
        )  # fmt: skip
    await edit_markup(query, None)


# -- lists ----------------------------------------------------------------------------------


async def questions_command(update: Update, context: BotContext) -> None:
    """Staff: the open questions of their group, with age and owner. Students: their own."""
    actor = context.actor
    user = context.user
    if user is None:
        return
    staff = bool(context.args) or actor.is_coordinator or actor.supervises(user.cohort_id)
    if staff:
        code = context.args[0] if context.args else None
        cohort = await cohort_for(update, context, Permission.ANSWER_QUESTIONS, code)
        if cohort is not None:
            await staff_list(update, context, cohort)
        return
    cohort = await current_cohort(update, context, Permission.ASK_QUESTION)
    if cohort is not None:
        await student_list(update, context)


async def staff_list(update: Update, context: BotContext, cohort: Cohort) -> None:
    tr = context.tr
    storage = context.services.storage
    now = context.services.clock.now()
    questions = await storage.questions.unclosed_in(cohort.id)
    if not questions:
        await reply(update, tr("No open questions in {group}.").format(group=escape(cohort.code)))
        return
    undelivered = await storage.questions.undelivered([q.id for q in questions])
    lines = ["<b>" + tr("Open questions in {group}").format(group=escape(cohort.code)) + "</b>"]
    for q in questions:
        student = await storage.users.get(q.student_id)
        name = escape(student.display_name if student else str(q.student_id))
        owner = await storage.users.get(q.owner_id) if q.owner_id else None
        state = (
            tr("owner: {name}").format(name=escape(owner.display_name))
            if owner else tr("no owner")
        )  # fmt: skip
        if q.status == "answered":
            state += " · " + tr("answered")
        if q.id in undelivered:
            state += " · ⚠️ " + tr("answer undelivered")
        lines += [
            "",
            " · ".join((f"#{q.id}", age_text(now - q.created_at, tr), name, state)),
            quote(q.text or "📎"),
        ]  # fmt: skip
    await reply(update, "\n".join(lines))


async def student_list(update: Update, context: BotContext) -> None:
    tr = context.tr
    user = context.user
    assert user is not None
    storage = context.services.storage
    questions = await storage.questions.of_student(user.telegram_id)
    if not questions:
        await reply(update, tr("You have not asked anything yet. Send /ask with your question."))
        return
    states = {"open": tr("waiting"), "answered": tr("answered"), "closed": tr("closed")}
    lines = ["<b>" + tr("Your questions") + "</b>"]
    for q in questions:
        lines += ["", f"#{q.id} · {states[q.status]}", quote(q.text or "📎")]
        answers = [m for m in await storage.questions.messages(q.id) if m.from_staff]
        if answers and answers[-1].text:
            lines.append("💬 " + escape(answers[-1].text[:1000]))
    await reply(update, "\n".join(lines))


async def faq_command(update: Update, context: BotContext) -> None:
    """/faq lists the group's frequent questions in the reader's language; staff may add a
    language to an entry (/faq 3 ru question | answer) or delete one (/faq 3 delete)."""
    tr = context.tr
    args = context.args or []
    message = update.effective_message
    if args and is_number(args[0]) and message is not None:
        await faq_edit(update, context, int(args[0]), (message.text or "").split(None, 2)[2:])
        return
    cohort = await current_cohort(update, context, Permission.READ_FAQ)
    if cohort is None:
        return
    entries = await context.services.storage.questions.faq(cohort.id)
    staff = allowed(context.actor, Permission.ANSWER_QUESTIONS, cohort.id)
    if not entries:
        text = tr("No frequent questions yet. Send /ask to ask the staff.")
        if staff:
            text = tr("The FAQ is empty. Answer a question, then press “Add to the FAQ”.")
        await reply(update, text)
        return
    lines = ["📖 <b>" + tr("Frequent questions") + "</b>"]
    for entry in entries:
        lines.append("")
        if staff:
            lines.append("#{n} ({langs})".format(n=entry.id, langs=", ".join(entry.languages())))
        lines.append(faq_text(entry, tr.language))
    if staff:
        lines += ["", escape(tr("To add a language: /faq <#> <en|ru|uz> question | answer. "
                                "To delete: /faq <#> delete."))]  # fmt: skip
    await reply(update, "\n".join(lines))


async def faq_edit(update: Update, context: BotContext, entry_id: int, rest: list[str]) -> None:
    tr = context.tr
    storage = context.services.storage
    entry = await storage.questions.faq_entry(entry_id)
    if entry is None or not allowed(context.actor, Permission.ANSWER_QUESTIONS, entry.cohort_id):
        await reply(update, refuse(context))
        return
    words = (rest[0] if rest else "").split(None, 1)
    if words and words[0].lower() == "delete":
        await storage.questions.delete_faq(entry_id)
        await reply(update, tr("FAQ entry #{n} deleted.").format(n=entry_id))
        return
    hint = tr("/faq <#> <en|ru|uz> question | answer")
    if len(words) != 2 or words[0].lower() not in ("en", "ru", "uz") or "|" not in words[1]:
        await usage(update, hint)
        return
    question, _, answer = words[1].partition("|")
    question, answer = question.strip(), answer.strip()
    if not question or not answer or len(question) + len(answer) > MAX_QUESTION:
        await usage(update, hint)
        return
    await storage.questions.set_faq_language(entry_id, words[0].lower(), question, answer)
    await reply(update, tr("FAQ entry #{n} saved.").format(n=entry_id))
