"""Files: a spreadsheet sent with the caption /import (preview, then Confirm), and /export."""

from __future__ import annotations

import io
import re
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.handlers.common import action_and_id, cohort_for, edit, pressed, refuse, reply, usage
from bot.i18n import Translator
from bot.services.access import Permission, allowed
from bot.services.export import export_cohort
from bot.services.importer import ImportPlan
from bot.services.spreadsheets import MAX_FILE_BYTES

IMPORT_ACTION = "imp"
MAX_PROBLEMS_SHOWN = 25


def plan_text(plan: ImportPlan, tr: Translator) -> str:
    if not plan.ok:
        shown = plan.problems[:MAX_PROBLEMS_SHOWN]
        lines = [
            "⛔ "
            + tr.ngettext(
                "The file has {n} problem; nothing was changed:",
                "The file has {n} problems; nothing was changed:",
                len(plan.problems),
            ).format(n=len(plan.problems))
        ]
        lines += [f"• {escape(p.render(tr.gettext))}" for p in shown]
        if len(plan.problems) > len(shown):
            lines.append(tr("…and {n} more.").format(n=len(plan.problems) - len(shown)))
        return "\n".join(lines)
    if plan.empty:
        return "✅ " + tr("No changes: everything in the file is already in the bot.")
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
        for change in plan.sessions[:15]:
            mark = {"added": "🆕", "changed": "✏️", "cancelled": "❌"}[change.kind]
            title = escape(change.after.title.get(tr.language))
            lines.append(f"  {mark} {change.after.starts_at:%Y-%m-%d} {title}")
        if len(plan.sessions) > 15:
            lines.append("  " + tr("…and {n} more.").format(n=len(plan.sessions) - 15))
    for contacts in plan.contacts:
        where = tr("every group") if contacts.cohort_code == "*" else escape(contacts.cohort_code)
        lines.append(
            tr("Contacts of {where}: {added} added, {removed} removed").format(
                where=where, added=contacts.added, removed=contacts.removed
            )
        )
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
    data = await export_cohort(context.services.storage, cohort)
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", cohort.code) + ".xlsx"
    await update.effective_message.reply_document(
        InputFile(io.BytesIO(data), filename=filename),
        caption=tr("Edit it and send it back with the caption /import."),
    )
