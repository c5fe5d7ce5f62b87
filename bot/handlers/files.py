"""Files: a spreadsheet sent with the caption /import (preview, then Confirm), and /export."""

from __future__ import annotations

import io
import re
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.formatting import local_date
from bot.handlers.common import action_and_id, cohort_for, edit, pressed, refuse, reply, usage
from bot.i18n import Translator
from bot.services.access import Permission, allowed
from bot.services.export import export_cohort
from bot.services.importer import ImportPlan, SessionChange, utf16_length
from bot.services.spreadsheets import MAX_FILE_BYTES, Problem

IMPORT_ACTION = "imp"
MAX_PROBLEMS_SHOWN = 25


# Telegram refuses a message beyond 4,096 UTF-16 units: the preview names as many rows as fit,
# each clipped, and says how many more there are.
MAX_MESSAGE_UNITS = 4000
MAX_LINE_CHARS = 160


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"


def _more(items: list, shown: int, tr: Translator) -> list[str]:
    return [tr("…and {n} more.").format(n=len(items) - shown)] if len(items) > shown else []


def _problem_lines(problems: list[Problem], shown: int, tr: Translator) -> list[str]:
    lines = [f"• {escape(_clip(p.render(tr.gettext)))}" for p in problems[:shown]]
    return lines + _more(problems, shown, tr)


def _session_line(change: SessionChange, tr: Translator) -> str:
    start = change.local_start
    title = escape(_clip(change.after.title.get(tr.language)))
    return f"{local_date(start.date(), tr)} {start:%H:%M} {title}"


def plan_text(plan: ImportPlan, tr: Translator) -> str:
    """The preview (or the refusal) of an import, within one Telegram message."""
    for shown in (MAX_PROBLEMS_SHOWN, 12, 6, 3, 1, 0):
        text = _plan_text(plan, tr, shown)
        if utf16_length(text) <= MAX_MESSAGE_UNITS:
            break
    return text


def _plan_text(plan: ImportPlan, tr: Translator, shown: int) -> str:
    if not plan.ok:
        lines = [
            "⛔ "
            + tr.ngettext(
                "The file has {n} problem; nothing was changed:",
                "The file has {n} problems; nothing was changed:",
                len(plan.problems),
            ).format(n=len(plan.problems))
        ]
        lines += _problem_lines(plan.problems, shown, tr)
        return "\n".join(lines)
    warnings = []
    if plan.warnings:
        warnings = ["", "⚠️ " + tr("Worth a check (this does not stop the import):")]
        warnings += _problem_lines(plan.warnings, shown, tr)
    if plan.empty:
        return "\n".join(
            ["✅ " + tr("No changes: everything in the file is already in the bot."), *warnings]
        )
    lines = ["👁 " + tr("Preview of the import:")]
    if plan.cohorts_added or plan.cohorts_changed:
        lines.append(
            tr("Groups: {added} new, {changed} changed").format(
                added=len(plan.cohorts_added), changed=len(plan.cohorts_changed)
            )
        )
    if plan.sessions:
        lines.append(
            tr("Sessions: {added} new, {changed} changed, {cancelled} cancelled").format(
                added=plan.count("added"),
                changed=plan.count("changed"),
                cancelled=plan.count("cancelled"),
            )
        )
        others = [c for c in plan.sessions if c.kind != "cancelled"]
        for change in others[:shown]:
            mark = "🆕" if change.kind == "added" else "✏️"
            lines.append(f"  {mark} " + _session_line(change, tr))
        lines += ["  " + line for line in _more(others, shown, tr)]
        # The sessions an import cancels are named (twice as many fit as of the others):
        # members will be told they are off, so the coordinator must see which.
        cancelled = plan.of_kind("cancelled")
        if cancelled:
            lines.append(
                tr.ngettext(
                    "This import cancels {n} session:",
                    "This import cancels {n} sessions:",
                    len(cancelled),
                ).format(n=len(cancelled))
            )
            lines += ["  ❌ " + _session_line(c, tr) for c in cancelled[: shown * 2]]
            lines += ["  " + line for line in _more(cancelled, shown * 2, tr)]
    for contacts in plan.contacts:
        where = tr("every group") if contacts.cohort_code == "*" else escape(contacts.cohort_code)
        lines.append(
            tr("Contacts of {where}: {added} added, {removed} removed").format(
                where=where, added=contacts.added, removed=contacts.removed
            )
        )
    for survey in plan.surveys:
        lines.append(
            tr.ngettext(
                "Survey of {group}: {n} question",
                "Survey of {group}: {n} questions",
                len(survey.questions),
            ).format(group=escape(survey.cohort_code), n=len(survey.questions))
        )
    for checklist in plan.tasks:
        lines.append(
            tr("Checklist of {cohort}: {added} new, {changed} changed, {removed} removed").format(
                cohort=escape(checklist.cohort_code), added=checklist.added,
                changed=checklist.changed, removed=checklist.removed,
            )
        )  # fmt: skip
    lines += warnings
    lines.append("\n" + tr("Nothing is saved until you press Confirm."))
    return "\n".join(lines)


async def import_document(update: Update, context: BotContext) -> None:
    tr = context.tr
    message = update.effective_message
    if message is None or message.document is None:
        return
    if not allowed(context.actor, Permission.EDIT_ITINERARY):
        await reply(update, refuse(context))
        return
    document = message.document
    name = document.file_name or "upload"
    if document.file_size and document.file_size > MAX_FILE_BYTES:
        await reply(
            update,
            "⛔ " + tr("The file is too large ({size} KB); the limit is {limit} KB.").format(
                size=document.file_size // 1024, limit=MAX_FILE_BYTES // 1024
            ),
        )  # fmt: skip
        return
    if not name.lower().endswith((".csv", ".xlsx")):
        await reply(update, "⛔ " + tr("Send a .csv or .xlsx file with the caption /import."))
        return
    telegram_file = await document.get_file()
    content = bytes(await telegram_file.download_as_bytearray())
    services = context.services
    plan = await services.importer.plan_files([(name, content)])
    if not plan.ok or plan.empty:
        await reply(update, plan_text(plan, tr))
        return
    pending = await services.storage.pending_imports.save(
        context.actor.user_id, name, content, services.clock.now()
    )
    uid = context.actor.user_id
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ " + tr.pgettext("button", "Confirm"),
                    callback_data=CallbackData(IMPORT_ACTION, uid, f"ok:{pending}").encode(),
                ),
                InlineKeyboardButton(
                    tr.pgettext("button", "Discard"),
                    callback_data=CallbackData(IMPORT_ACTION, uid, f"no:{pending}").encode(),
                ),
            ]
        ]
    )
    await reply(update, plan_text(plan, tr), keyboard)


async def import_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    action, import_id = action_and_id(data)
    if import_id is None:
        await query.answer(tr("This button is out of date."))
        return
    if not allowed(context.actor, Permission.EDIT_ITINERARY):
        await query.answer(refuse(context), show_alert=True)
        return
    services = context.services
    upload = await services.storage.pending_imports.take(import_id, context.user.telegram_id)
    await query.answer()
    if upload is None:
        await edit(query, tr("This import was already confirmed or discarded."))
        return
    if action != "ok":
        await edit(query, tr("Discarded: nothing was changed."))
        return
    name, content = upload
    # Validate again: the database may have changed since the preview.
    plan = await services.importer.plan_files([(name, content)])
    if not plan.ok:
        await edit(query, plan_text(plan, tr))
        return
    await services.admin.apply_import(context.actor.user_id, plan, name)
    await edit(
        query,
        "✅ " + tr("Imported. Members are told about changes in the next 48 hours."),
    )


async def export(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /export <cohort code>"))
        return
    cohort = await cohort_for(update, context, Permission.EDIT_ITINERARY, args[0])
    if cohort is None or update.effective_message is None:
        return
    data = await export_cohort(context.services.storage, cohort, context.services.clock.now())
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", cohort.code) + ".xlsx"
    await update.effective_message.reply_document(
        InputFile(io.BytesIO(data), filename=filename),
        caption=tr("Edit it and send it back with the caption /import."),
    )
