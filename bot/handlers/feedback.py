"""Feedback after sessions (the 1-5 buttons, comments, /feedback for staff) and the survey."""

from __future__ import annotations

import io
import re
from html import escape
from typing import TYPE_CHECKING

from telegram import InputFile, Update

from bot.context import BotContext
from bot.formatting import local_date
from bot.handlers.common import (
    cohort_for,
    edit,
    pressed,
    refuse,
    reply,
    reply_long,
    usage,
)
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.feedback import MAX_COMMENT, prompt_text, rating_keyboard, survey_message
from bot.storage.questions import PendingStep

if TYPE_CHECKING:
    from bot.handlers.questions import Content


async def feedback_pressed(update: Update, context: BotContext) -> None:
    """A rating (the same one again changes nothing) or "Add a comment"."""
    data = await pressed(update, context)
    query = update.callback_query
    user = context.user
    if data is None or query is None or user is None:
        return
    tr = context.tr
    services = context.services
    raw_session, _, value = data.arg.partition(":")
    session = (
        await services.storage.sessions.get(int(raw_session)) if is_number(raw_session) else None
    )
    now = services.clock.now()
    if session is None or session.cancelled or session.ends_at > now:
        await query.answer(tr("This button is out of date."))
        return
    if not allowed(context.actor, Permission.ASK_QUESTION, session.cohort_id):
        await query.answer(refuse(context), show_alert=True)
        return
    feedback = services.storage.feedback
    if value == "c":
        if await feedback.rating_of(session.id, user.telegram_id) is None:
            await query.answer(tr("Rate it first, then add a comment."))
            return
        await services.storage.questions.set_step(
            user.telegram_id, "comment", now, ref_id=session.id
        )
        await query.answer()
        await reply(update, tr("Write your comment in your next message. It is anonymous."))
        return
    if value not in ("1", "2", "3", "4", "5"):
        await query.answer(tr("This button is out of date."))
        return
    rating = int(value)
    await feedback.rate(session.id, user.telegram_id, rating, now)
    if query.message is not None:
        await services.storage.questions.link(
            user.telegram_id, query.message.message_id, "feedback", session.id
        )
    await query.answer(tr("Thank you!"))
    await edit(
        query,
        prompt_text(session, tr, rating),
        rating_keyboard(session.id, user.telegram_id, tr, rating),
    )


async def comment_reply(
    update: Update, context: BotContext, session_id: int, content: Content
) -> None:
    """A reply to a rated prompt is its comment."""
    await save_comment(update, context, session_id, content)


async def save_comment(
    update: Update, context: BotContext, session_id: int, content: Content
) -> None:
    tr = context.tr
    user = context.user
    assert user is not None
    if not content.text or content.sticker:
        await reply(update, tr("Please write your comment in words."))
        return
    if len(content.text) > MAX_COMMENT:
        await reply(
            update,
            tr("Your comment is too long. Please keep it under {max} characters.").format(
                max=MAX_COMMENT
            ),
        )
        return
    feedback = context.services.storage.feedback
    if await feedback.comment(session_id, user.telegram_id, content.text):
        await reply(update, "💬 " + tr("Thank you! Your comment is saved, without your name."))
    else:
        await reply(update, tr("Rate it first, then add a comment."))


async def run_step(
    update: Update, context: BotContext, step: PendingStep, content: Content
) -> bool:
    user = context.user
    assert user is not None
    storage = context.services.storage
    if step.ref_id is None or not await storage.questions.take_step(
        user.telegram_id, step.step, step.created_at
    ):
        return False
    if step.step == "comment":
        await save_comment(update, context, step.ref_id, content)
        return True
    # A survey's free-text question: the step holds the cohort and the question's index.
    questions = await storage.feedback.survey(step.ref_id)
    index = int(step.text) if is_number(step.text) else -1
    if not 0 <= index < len(questions) or not content.text or content.sticker:
        await reply(update, context.tr("Please write your answer in words."))
        await storage.questions.set_step(
            user.telegram_id, "survey", context.services.clock.now(), ref_id=step.ref_id,
            text=step.text,
        )  # fmt: skip
        return True
    await storage.feedback.answer(
        step.ref_id, questions[index].qid, user.telegram_id, content.text[:MAX_COMMENT],
        context.services.clock.now(),
    )  # fmt: skip
    await send_next_question(update, context, step.ref_id, index)
    return True


async def send_next_question(
    update: Update, context: BotContext, cohort_id: int, after: int
) -> None:
    user = context.user
    assert user is not None
    storage = context.services.storage
    questions = await storage.feedback.survey(cohort_id)
    done = await storage.feedback.answered(cohort_id, user.telegram_id)
    for index in range(after + 1, len(questions)):
        if questions[index].qid not in done:
            outgoing = survey_message(questions, index, user.telegram_id, context.tr)
            await reply(update, outgoing.text, outgoing.markup)
            return
    await reply(update, "🙏 " + context.tr("Thank you! That was the last question."))


async def survey_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    user = context.user
    if data is None or query is None or user is None:
        return
    tr = context.tr
    services = context.services
    parts = data.arg.split(":")
    if len(parts) != 3 or not is_number(parts[0]) or not is_number(parts[1]):
        await query.answer(tr("This button is out of date."))
        return
    cohort_id, index, value = int(parts[0]), int(parts[1]), parts[2]
    if not allowed(context.actor, Permission.ASK_QUESTION, cohort_id):
        await query.answer(refuse(context), show_alert=True)
        return
    questions = await services.storage.feedback.survey(cohort_id)
    valid = {"rating": {"1", "2", "3", "4", "5", "s"}, "yesno": {"y", "n", "s"},
             "text": {"w", "s"}}  # fmt: skip
    if not 0 <= index < len(questions) or value not in valid[questions[index].type]:
        await query.answer(tr("This button is out of date."))
        return
    question = questions[index]
    feedback = services.storage.feedback
    if question.qid in await feedback.answered(cohort_id, user.telegram_id):
        await query.answer(tr("You have answered this one already."))
        return
    if value == "w":
        await services.storage.questions.set_step(
            user.telegram_id, "survey", services.clock.now(), ref_id=cohort_id, text=str(index)
        )
        await query.answer()
        await reply(update, tr("Write your answer in your next message."))
        return
    answer = {"y": "yes", "n": "no", "s": ""}.get(value, value)
    await feedback.answer(cohort_id, question.qid, user.telegram_id, answer, services.clock.now())
    await query.answer(tr("Thank you!"))
    shown = {"yes": tr.pgettext("button", "Yes"), "no": tr.pgettext("button", "No"),
             "": tr.pgettext("button", "Skip")}.get(answer, answer)  # fmt: skip
    text = survey_message(questions, index, user.telegram_id, tr).text.split("\n")
    await edit(query, "\n".join(text[:1]) + "\n✅ " + escape(shown))
    await send_next_question(update, context, cohort_id, index)


# -- staff ------------------------------------------------------------------------------------


async def feedback_command(update: Update, context: BotContext) -> None:
    """Averages and counts per session and per department, and the comments: no names."""
    tr = context.tr
    code = context.args[0] if context.args else None
    cohort = await cohort_for(update, context, Permission.VIEW_FEEDBACK, code)
    if cohort is None:
        return
    storage = context.services.storage
    ratings = await storage.feedback.for_cohort(cohort.id)
    header = "<b>" + tr("Feedback for {group}").format(group=escape(cohort.code)) + "</b>"
    note = "<i>" + tr("Anonymous: ratings and comments are shown without names.") + "</i>"
    if not ratings:
        await reply(update, header + "\n" + note + "\n\n" + tr("No ratings yet."))
        return
    sessions = await storage.sessions.get_many([r.session_id for r in ratings])
    lang = tr.language
    parts = [header, note, "", "<b>" + tr("By session") + "</b>"]
    departments: dict[str, list[int]] = {}
    comments: list[str] = []
    for r in ratings:
        session = sessions.get(r.session_id)
        if session is None:
            continue
        title = escape(session.title.get(lang))
        day = local_date(session.starts_at.astimezone(cohort.tz).date(), tr)
        parts.append(f"{escape(day)} · {title}: ★ {r.total / r.count:.1f} ({r.count})")
        dept = session.department.get(lang) or tr("No department")
        totals = departments.setdefault(dept, [0, 0])
        totals[0] += r.total
        totals[1] += r.count
        comments += [f"«{escape(c)}» — {title}" for c in r.comments]
    parts += ["", "<b>" + tr("By department") + "</b>"]
    for dept, (total, count) in sorted(departments.items()):
        parts.append(f"{escape(dept)}: ★ {total / count:.1f} ({count})")
    if comments:
        parts += ["", "<b>" + tr("Comments") + "</b>", *comments]
    await reply_long(update, parts)


async def survey_command(update: Update, context: BotContext) -> None:
    """/survey <group>: the survey's answers as a spreadsheet (coordinators)."""
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /survey <group>"))
        return
    cohort = await cohort_for(update, context, Permission.MANAGE_SURVEY, args[0])
    if cohort is None or update.effective_message is None:
        return
    services = context.services
    questions = await services.storage.feedback.survey(cohort.id)
    if not questions:
        await reply(
            update,
            escape(
                tr(
                    "{group} has no survey. Send a file with the columns cohort, question_id, "
                    "type (rating, yesno or text), text_en, text_ru, text_uz and the caption "
                    "/import."
                ).format(group=cohort.code)
            ),
        )
        return
    data = await services.feedback.export_survey(cohort)
    respondents = len(await services.storage.feedback.survey_answers(cohort.id))
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", cohort.code) + "-survey.xlsx"
    await update.effective_message.reply_document(
        InputFile(io.BytesIO(data), filename=filename),
        caption=tr.ngettext(
            "Survey answers: {n} respondent, no names.",
            "Survey answers: {n} respondents, no names.",
            respondents,
        ).format(n=respondents),
    )
