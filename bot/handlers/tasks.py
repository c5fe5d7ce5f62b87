"""/tasks: a student's arrival checklist (Done, Send a proof); for staff, who has done what,
proofs to Accept or Reject, and ticking a task for a student by hand."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardMarkup, Update

from bot.context import BotContext
from bot.formatting import MAX_MESSAGE_UNITS, day_name, fit_message, local_date, utf16_len
from bot.handlers.common import (
    cohort_for,
    current_cohort,
    edit,
    edit_markup,
    pressed,
    refuse,
    reply,
    reply_long,
    usage,
)
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.tasks import (
    Outcome,
    State,
    TaskView,
    button,
    decision_markup,
    detail_lines,
    due_date,
    mention,
    reasons_markup,
    short,
    task_button,
    time_left,
)
from bot.storage.models import Cohort, Role
from bot.storage.tasks import REJECTED, Task

MAX_STUDENT_BUTTONS = 90  # Telegram shows up to 100 buttons under a message

_ICONS = {State.DONE: "✅", State.PROOF_SENT: "📨", State.OPEN: "⏳", State.OVERDUE: "❗"}


# -- /tasks ---------------------------------------------------------------------------------------


async def tasks(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    actor = context.actor
    if len(args) > 2:
        await usage(update, tr("Usage: /tasks [<group>] [<task id>]"))
        return
    if not args:
        if actor.is_coordinator and (context.user is None or context.user.cohort_id is None):
            await reply(update, tr("Name the group: add its code to the command."))
            return
        cohort = await current_cohort(update, context)
        if cohort is None:
            return
        if actor.roles.get(cohort.id) is Role.STUDENT:
            text, markup = await checklist_message(context, cohort)
            await reply(update, text, markup)
        else:
            await overview(update, context, cohort)
        return
    storage = context.services.storage
    if len(args) == 2:
        cohort = await cohort_for(update, context, Permission.MANAGE_TASKS, args[0])
        if cohort is not None:
            await task_detail(update, context, cohort, args[1])
        return
    named = await storage.cohorts.by_code(args[0][:64])
    if actor.is_coordinator or (named is not None and actor.supervises(named.id)):
        cohort = await cohort_for(update, context, Permission.MANAGE_TASKS, args[0])
        if cohort is not None:
            await overview(update, context, cohort)
        return
    # A supervisor's single word that is not their group's code: a task of their group.
    own = context.user.cohort_id if context.user is not None else None
    if own is not None and actor.supervises(own):
        cohort = await cohort_for(update, context, Permission.MANAGE_TASKS, None)
        if cohort is not None:
            await task_detail(update, context, cohort, args[0])
        return
    await reply(update, refuse(context))


def _due_text(view: TaskView, cohort: Cohort, tr: Translator, now_local_year: int) -> str:
    day = escape(day_name(view.due, tr, year=view.due.year != now_local_year))
    if view.state is State.OVERDUE:
        return tr("was due {day}").format(day=day)
    return tr("due {day}").format(day=day)


async def checklist_message(
    context: BotContext, cohort: Cohort
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A student's checklist in their language, with a button for each task still open; one
    message (a press edits it), so the details go when a long checklist would not fit."""
    views = await context.services.tasks.checklist(cohort, context.actor.user_id)
    if not views:
        return "📋 " + context.tr("Your group has no checklist yet."), None
    text, markup = _checklist(context, cohort, views, details=True)
    if utf16_len(text) > MAX_MESSAGE_UNITS:
        text, markup = _checklist(context, cohort, views, details=False)
    return fit_message(text), markup


def _checklist(
    context: BotContext, cohort: Cohort, views: list[TaskView], *, details: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    tr = context.tr
    services = context.services
    user_id = context.actor.user_id
    now = services.clock.now()
    year = now.astimezone(cohort.tz).year
    done = sum(1 for v in views if v.state is State.DONE)
    lines = [
        "📋 <b>" + escape(tr("Your arrival checklist")) + "</b> · "
        + tr("{done} of {total} done").format(done=done, total=len(views))
    ]  # fmt: skip
    buttons = []
    for view in views:
        task = view.task
        title = escape(task.title.get(tr.language))
        icon = _ICONS[view.state]
        lines.append("")
        if view.state is State.DONE:
            lines.append(f"{icon} <s>{title}</s>")
            continue
        due = _due_text(view, cohort, tr, year)
        if view.state is State.OPEN:
            due += " · " + tr("{left} left").format(left=time_left(view.deadline - now, tr))
        lines.append(f"{icon} <b>{title}</b> — {due}")
        if view.state is State.PROOF_SENT:
            lines.append("   " + tr("Proof sent; your supervisor will check it."))
            continue
        if view.progress is not None and view.progress.status == REJECTED and view.progress.reason:
            lines.append("   ↩️ " + escape(tr(view.progress.reason)))
        if details:
            lines += detail_lines(task, tr, "   ")
        if task.needs_proof:
            lines.append("   📎 " + tr("Needs a photo or a document as proof."))
        buttons.append([task_button(task, tr, user_id, listed=True)])
    return "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None


async def overview(update: Update, context: BotContext, cohort: Cohort) -> None:
    tr = context.tr
    students, table = await context.services.tasks.overview(cohort)
    name = escape(cohort.name.get(tr.language))
    lines = [
        "📋 <b>" + tr("Checklist of {group}").format(group=name) + "</b> · "
        + tr.ngettext("{n} student", "{n} students", len(students)).format(n=len(students))
    ]  # fmt: skip
    if not table:
        lines.append(tr("This group has no checklist yet: import a tasks file."))
        await reply(update, "\n".join(lines))
        return
    year = context.services.clock.now().astimezone(cohort.tz).year
    people = {u.telegram_id: u for u in students}
    for task, views in table:
        due = due_date(task, cohort) or cohort.arrives
        lines.append("")
        lines.append(
            f"<b>{escape(task.external_id)}</b> {escape(task.title.get(tr.language))} — "
            + tr("due {day}").format(day=escape(day_name(due, tr, year=due.year != year)))
        )
        counts = {s: sum(1 for v in views.values() if v.state is s) for s in State}
        summary = "   ✅ " + tr("{done} of {total} done").format(
            done=counts[State.DONE], total=len(views)
        )
        if counts[State.PROOF_SENT]:
            summary += " · 📨 " + tr.ngettext(
                "{n} proof to check", "{n} proofs to check", counts[State.PROOF_SENT]
            ).format(n=counts[State.PROOF_SENT])
        lines.append(summary)
        overdue = [people[uid] for uid, v in views.items() if v.state is State.OVERDUE]
        if overdue:
            lines.append(
                "   ❗ " + tr("Overdue: {names}").format(names=", ".join(map(mention, overdue)))
            )
    hint = tr("One task, student by student: /tasks {code} <task id>").format(code=cohort.code)
    lines += ["", escape(hint)]
    await reply_long(update, lines)


async def task_detail(update: Update, context: BotContext, cohort: Cohort, ref: str) -> None:
    tr = context.tr
    task = await context.services.storage.tasks.by_external(cohort.id, ref[:64])
    if task is None or task.removed:
        await reply(
            update,
            tr("There is no task “{id}” in the checklist of {group}.").format(
                id=escape(ref[:64]), group=escape(cohort.code)
            ),
        )
        return
    text, markup = await detail_message(context, cohort, task)
    await reply(update, text, markup)


async def detail_message(
    context: BotContext, cohort: Cohort, task: Task
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One task, student by student; a button ticks it for a student (papers handed over in
    person)."""
    tr = context.tr
    students, table = await context.services.tasks.overview(cohort)
    views = next((v for t, v in table if t.id == task.id), {})
    year = context.services.clock.now().astimezone(cohort.tz).year
    due = due_date(task, cohort) or cohort.arrives
    done = sum(1 for v in views.values() if v.state is State.DONE)
    lines = [
        f"<b>{escape(task.external_id)} · {escape(task.title.get(tr.language))}</b>",
        tr("due {day}").format(day=escape(day_name(due, tr, year=due.year != year)))
        + " · " + tr("{done} of {total} done").format(done=done, total=len(views)),
        "",
    ]  # fmt: skip
    buttons = []
    staff_id = context.actor.user_id
    for student in students:
        view = views.get(student.telegram_id)
        if view is None:
            continue
        line = f"{_ICONS[view.state]} {mention(student)}"
        if view.state is State.DONE and view.progress and view.progress.done_at:
            line += " — " + escape(
                local_date(view.progress.done_at.astimezone(cohort.tz).date(), tr)
            )
        elif view.state is State.PROOF_SENT:
            line += " — " + tr("proof to check")
        lines.append(line)
        if view.state is not State.DONE and len(buttons) < MAX_STUDENT_BUTTONS:
            buttons.append(
                [button("✅ " + short(student.display_name, 40), staff_id,
                        f"m:{task.id}:{student.telegram_id}")]
            )  # fmt: skip
    if not students:
        lines.append(tr("No students in this group yet."))
    elif buttons:
        lines += ["", tr("Handed in person? Tick it for the student:")]
    return "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None


# -- buttons --------------------------------------------------------------------------------------


def _numbers(parts: list[str], count: int) -> list[int] | None:
    if len(parts) < count or not all(is_number(p) for p in parts[:count]):
        return None
    return [int(p) for p in parts[:count]]


async def task_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    op, *parts = data.arg.split(":")
    if op in ("d", "p"):
        ids = _numbers(parts, 1)
        if ids is None:
            await query.answer(tr("This button is out of date."))
            return
        listed = parts[1:2] == ["l"]
        await _student_pressed(update, context, op, ids[0], listed)
        return
    # m:<task>:<student>; a decision also names the proof (the student's message).
    ids = _numbers(parts, 2 if op == "m" else 3)
    if ids is None or op not in ("a", "r", "b", "m", "x0", "x1", "x2"):
        await query.answer(tr("This button is out of date."))
        return
    task_id, student_id, proof = (*ids, 0)[:3]
    services = context.services
    task = await services.storage.tasks.get(task_id)
    cohort = None if task is None else await services.storage.cohorts.get(task.cohort_id)
    if task is None or cohort is None:
        await query.answer(tr("This button is out of date."))
        return
    if not allowed(context.actor, Permission.MANAGE_TASKS, cohort.id):
        await query.answer(refuse(context), show_alert=True)
        return
    staff_id = context.actor.user_id
    if op == "r":
        await query.answer()
        await edit_markup(query, reasons_markup(staff_id, task_id, student_id, proof, tr))
        return
    if op == "b":
        await query.answer()
        await edit_markup(query, decision_markup(staff_id, task_id, student_id, proof, tr))
        return
    if op == "m":
        outcome = await services.tasks.mark_by_hand(staff_id, cohort, task, student_id)
        if outcome is Outcome.NOT_FOUND:
            await query.answer(tr("This student is not in the group."), show_alert=True)
            return
        await query.answer(
            tr("Marked as done.") if outcome is Outcome.DONE else tr("It was already done.")
        )
        text, markup = await detail_message(context, cohort, task)
        await edit(query, text, markup)
        return
    reason = None if op == "a" else int(op[1:])
    outcome = await services.tasks.decide(staff_id, cohort, task, student_id, proof, reason)
    if outcome is Outcome.DONE:
        await query.answer(
            tr("Accepted; the student is told.") if reason is None
            else tr("Sent back; the student is told why.")
        )  # fmt: skip
    else:
        await query.answer(tr("This proof has already been decided."))
    await edit_markup(query, None)


async def _student_pressed(
    update: Update, context: BotContext, op: str, task_id: int, listed: bool
) -> None:
    query = update.callback_query
    assert query is not None
    tr = context.tr
    services = context.services
    user_id = context.actor.user_id
    if op == "d":
        outcome = await services.tasks.tick(user_id, task_id)
    else:
        outcome, task = await services.tasks.ask_proof(user_id, task_id)
    if outcome is Outcome.NOT_FOUND:
        await query.answer(tr("This task is not on your checklist."), show_alert=True)
        return
    if outcome is Outcome.NEEDS_PROOF:
        await query.answer(
            tr("This task needs a proof: send a photo or a document."), show_alert=True
        )
        return
    if outcome is Outcome.NO_PROOF_NEEDED:
        await query.answer(tr("This task needs no proof: just press Done."), show_alert=True)
        return
    if op == "p" and outcome is Outcome.SENT:
        await query.answer()
        title = escape(task.title.get(tr.language)) if task else ""
        if query.message is not None:
            await query.message.reply_text(  # type: ignore[union-attr]
                "📎 "
                + tr(
                    "Send a photo or a document for “{task}” now, as your next message: "
                    "it goes to your supervisor."
                ).format(task=title),
                parse_mode="HTML",
            )
        return
    await query.answer(
        "✅ " + tr("Done!") if outcome is Outcome.DONE else tr("It was already done.")
    )
    task = await services.storage.tasks.get(task_id)
    cohort = None if task is None else await services.storage.cohorts.get(task.cohort_id)
    if listed and cohort is not None:
        text, markup = await checklist_message(context, cohort)
        await edit(query, text, markup)
    else:
        await edit_markup(query, None)


# -- the proof itself -----------------------------------------------------------------------------


async def proof_received(update: Update, context: BotContext) -> bool:
    """A photo or a document: the proof a student was asked for, if one is awaited (True);
    False leaves the message to the question desk (`questions.incoming` asks here first)."""
    message = update.effective_message
    student = context.user
    if message is None or student is None or not (message.photo or message.document):
        return False

    def caption(tr: Translator, task: Task) -> str:
        return "📎 " + tr("Proof from {name} for “{task}”").format(
            name=mention(student), task=escape(task.title.get(tr.language))
        )

    result = await context.services.tasks.submit_proof(student, message.message_id, caption)
    if result is None:
        return False
    outcome, task = result
    tr = context.tr
    title = escape(task.title.get(tr.language)) if task else ""
    texts = {
        Outcome.SENT: "📨 " + tr("Sent to your supervisor for “{task}”. You will hear back here."),
        Outcome.ALREADY: tr("“{task}” is already done; nothing was sent."),
        Outcome.NO_PROOF_NEEDED: tr("“{task}” needs no proof; nothing was sent."),
        Outcome.NOBODY: tr("Nobody could receive your proof for “{task}”; please tell your "
                           "supervisor in person."),
        Outcome.NOT_FOUND: tr("This task is not on your checklist."),
    }  # fmt: skip
    await reply(update, texts.get(outcome, "").format(task=title) or refuse(context))
    return True
