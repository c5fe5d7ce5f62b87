"""Coordinators (and supervisors where allowed) run the programme from their phones."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, time, timedelta
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.formatting import day_heading, hhmm
from bot.handlers.common import (
    action_and_id,
    cohort_for,
    pressed,
    refuse,
    reply,
    reply_long,
    role_name,
    usage,
)
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.export import export_cohort
from bot.services.importer import ImportPlan
from bot.services.spreadsheets import MAX_FILE_BYTES
from bot.storage.models import Cohort, Session

IMPORT_ACTION = "imp"
MAX_LIST = 60
MAX_PROBLEMS_SHOWN = 25
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


# -- cohorts and sessions -----------------------------------------------------------------


async def cohorts(update: Update, context: BotContext) -> None:
    if not allowed(context.actor, Permission.EDIT_ITINERARY):
        await reply(update, refuse(context))
        return
    storage = context.services.storage
    tr = context.tr
    title = tr("Groups")
    lines = [f"<b>{escape(title)}</b>"]
    for cohort in await storage.cohorts.all():
        members = len(await storage.users.members_of(cohort.id))
        lines.append(
            f"• <code>{escape(cohort.code)}</code> {escape(cohort.name)} — "
            f"{cohort.arrives:%Y-%m-%d}…{cohort.departs:%Y-%m-%d}, {escape(cohort.timezone)}, "
            + tr.ngettext("{n} member", "{n} members", members).format(n=members)
        )
    if len(lines) == 1:
        lines.append(tr("No groups yet: import a cohorts file with /import."))
    await reply_long(update, lines)


def session_line(session: Session, cohort: Cohort, tr: Translator) -> str:
    when = f"{hhmm(session.starts_at, cohort)}–{hhmm(session.ends_at, cohort)}"
    title = escape(session.title.get(tr.language))
    line = f"<code>#{session.id}</code> {when} {title}"
    if session.location:
        line += f" · {escape(session.location)}"
    if session.cancelled:
        line = f"<s>{line}</s> ❌"
    return line


async def sessions(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if not args or len(args) > 2 or (len(args) == 2 and not _DATE.match(args[1])):
        await usage(update, tr("Usage: /sessions <cohort code> [YYYY-MM-DD]"))
        return
    cohort = await cohort_for(update, context, Permission.EDIT_ITINERARY, args[0])
    if cohort is None:
        return
    itinerary = context.services.itinerary
    if len(args) == 2:
        try:
            first = date.fromisoformat(args[1])
        except ValueError:
            await usage(update, tr("Usage: /sessions <cohort code> [YYYY-MM-DD]"))
            return
        days = [first]
    else:
        today = itinerary.local_today(cohort)
        days = [today + timedelta(days=i) for i in range(7)]
    lines: list[str] = []
    for day in days:
        plan = await itinerary.day(cohort, day)
        if plan.sessions or len(days) == 1:
            lines.append(f"\n<b>{escape(day_heading(day, tr))}</b>")
            lines.extend(session_line(s, cohort, tr) for s in plan.sessions[:MAX_LIST])
            if not plan.sessions:
                lines.append(tr("Nothing is planned for this day."))
    if not lines:
        lines = [tr("Nothing is planned for the next 7 days.")]
    lines.append("\n" + tr("Change one with /cancel, /move or /room and its #number."))
    await reply_long(update, lines)


async def _session_arg(
    update: Update, context: BotContext, raw: str
) -> tuple[Session, Cohort] | None:
    storage = context.services.storage
    number = raw.lstrip("#")
    session = await storage.sessions.get(int(number)) if is_number(number) else None
    cohort = await storage.cohorts.get(session.cohort_id) if session else None
    if session is None or cohort is None:
        if context.actor.is_coordinator:
            await reply(
                update, context.tr("There is no session #{id}.").format(id=escape(number[:12]))
            )
        else:
            await reply(update, refuse(context))
        return None
    if not allowed(context.actor, Permission.EDIT_ITINERARY, cohort.id):
        await reply(update, refuse(context))
        return None
    return session, cohort


def _changed(session: Session, cohort: Cohort, tr: Translator) -> str:
    day = escape(day_heading(session.starts_at.astimezone(cohort.tz).date(), tr))
    return (
        "✅ "
        + tr("Saved. Members have been told if it is within 48 hours, and reminders follow.")
        + f"\n{day}\n{session_line(session, cohort, tr)}"
    )


async def cancel_session(update: Update, context: BotContext) -> None:
    args = context.args or []
    if not args:
        await usage(update, context.tr("Usage: /cancel <session #> [reason]"))
        return
    found = await _session_arg(update, context, args[0])
    if found is None:
        return
    session, cohort = found
    if session.cancelled:
        await reply(update, context.tr("This session is already cancelled."))
        return
    message = update.effective_message.text if update.effective_message else ""
    parts = (message or "").split(None, 2)
    reason = parts[2].strip() if len(parts) > 2 else ""
    updated = await context.services.admin.cancel(context.actor.user_id, session, reason)
    await reply(update, _changed(updated, cohort, context.tr))


async def move_session(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    match = _TIME.match(args[2]) if len(args) == 3 else None
    if len(args) != 3 or not _DATE.match(args[1]) or not match:
        await usage(update, tr("Usage: /move <session #> <YYYY-MM-DD> <HH:MM>"))
        return
    found = await _session_arg(update, context, args[0])
    if found is None:
        return
    session, cohort = found
    try:
        day = date.fromisoformat(args[1])
        at = time(int(match[1]), int(match[2]))
    except ValueError:
        await usage(update, tr("Usage: /move <session #> <YYYY-MM-DD> <HH:MM>"))
        return
    starts_at = datetime.combine(day, at, tzinfo=cohort.tz)
    updated = await context.services.admin.move(context.actor.user_id, session, starts_at)
    await reply(update, _changed(updated, cohort, tr))


async def room(update: Update, context: BotContext) -> None:
    tr = context.tr
    message = update.effective_message.text if update.effective_message else ""
    parts = (message or "").split(None, 2)
    if len(parts) < 3 or not parts[2].strip():
        await usage(update, tr("Usage: /room <session #> <new place>"))
        return
    found = await _session_arg(update, context, parts[1])
    if found is None:
        return
    session, cohort = found
    updated = await context.services.admin.room(
        context.actor.user_id, session, " ".join(parts[2].split())
    )
    await reply(update, _changed(updated, cohort, tr))


# -- people ---------------------------------------------------------------------------------


async def roster(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) > 1:
        await usage(update, tr("Usage: /roster <cohort code>"))
        return
    cohort = await cohort_for(update, context, Permission.VIEW_ROSTER, args[0] if args else None)
    if cohort is None:
        return
    members = await context.services.storage.users.members_of(cohort.id)
    lines = [
        "<b>"
        + escape(tr("Members of {cohort}").format(cohort=cohort.name))
        + f"</b> ({len(members)})"
    ]
    for user, membership in members:
        seen = (
            user.last_seen.astimezone(cohort.tz).strftime("%Y-%m-%d %H:%M")
            if user.last_seen
            else "—"
        )
        state = "✅" if user.reachable else "🚫 " + tr("unreachable")
        language = escape((user.language or user.telegram_language or "?")[:5])
        last_seen = tr("last seen {time}").format(time=seen)
        role = role_name(membership.role, tr)
        lines.append(f"• {escape(user.display_name)} — {role}, {language}, {state}, {last_seen}")
    await reply_long(update, lines)


async def invites_list(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /invites <cohort code>"))
        return
    cohort = await cohort_for(update, context, Permission.MANAGE_INVITES, args[0])
    if cohort is None:
        return
    now = context.services.clock.now()
    lines = ["<b>" + escape(tr("Invite links of {cohort}").format(cohort=cohort.name)) + "</b>"]
    for invite in await context.services.storage.invites.for_cohort(cohort.id):
        if invite.revoked:
            state = tr("withdrawn")
        elif invite.expires_at <= now:
            state = tr("expired")
        elif invite.max_uses is not None and invite.uses >= invite.max_uses:
            state = tr("used up")
        else:
            state = tr("active until {date}").format(
                date=invite.expires_at.astimezone(cohort.tz).strftime("%Y-%m-%d %H:%M")
            )
        limit = f"/{invite.max_uses}" if invite.max_uses else ""
        lines.append(
            f"• <code>{escape(invite.code)}</code> {role_name(invite.role, tr)}, "
            f"{invite.uses}{limit} — {state}"
        )
    if len(lines) == 1:
        lines.append(tr("No invite links yet."))
    else:
        lines.append("\n" + escape(tr("Withdraw one with /revoke <code>.")))
    await reply_long(update, lines)


async def revoke_invite(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /revoke <invite code>"))
        return
    storage = context.services.storage
    invite = await storage.invites.get(args[0][:64])
    if invite is None or not allowed(context.actor, Permission.MANAGE_INVITES, invite.cohort_id):
        if context.actor.is_coordinator:
            await reply(update, tr("There is no such invite link."))
        else:
            await reply(update, refuse(context))
        return
    if await storage.invites.revoke(invite.code):
        await storage.audit.record(
            context.services.clock.now(), context.actor.user_id, invite.cohort_id,
            "revoke_invite", invite.code,
        )  # fmt: skip
    await reply(update, tr("Done: the link no longer works. People who joined with it stay."))


async def grant(update: Update, context: BotContext) -> None:
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await reply(update, refuse(context))
        return
    args = context.args or []
    if (
        len(args) != 2
        or not is_number(args[0])
        or len(args[0]) > 15
        or args[1].lower() != "coordinator"
    ):
        await usage(update, tr("Usage: /grant <Telegram user id> coordinator"))
        return
    services = context.services
    user_id = int(args[0])
    now = services.clock.now()
    await services.storage.users.set_coordinator(user_id, True, now)
    await services.storage.audit.record(
        now, context.actor.user_id, None, "grant", f"user {user_id}", "", "coordinator"
    )
    await reply(update, tr("User {id} is now a coordinator.").format(id=user_id))


async def revoke_role(update: Update, context: BotContext) -> None:
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await reply(update, refuse(context))
        return
    args = context.args or []
    if len(args) != 1 or not is_number(args[0]):
        await usage(update, tr("Usage: /revoke_role <Telegram user id>"))
        return
    services = context.services
    user_id = int(args[0])
    if user_id in services.settings.coordinators:
        await reply(
            update,
            tr("User {id} is a coordinator through BOT_COORDINATORS; change it there.").format(
                id=user_id
            ),
        )
        return
    now = services.clock.now()
    removed = await services.storage.users.revoke_roles(user_id)
    await services.storage.audit.record(
        now, context.actor.user_id, None, "revoke_role", f"user {user_id}", removed, ""
    )
    await reply(
        update,
        tr("User {id} has no role any more: no coordinator rights and no group.").format(
            id=user_id
        ),
    )


async def audit(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /audit <cohort code>"))
        return
    cohort = await cohort_for(update, context, Permission.VIEW_AUDIT, args[0])
    if cohort is None:
        return
    entries = await context.services.storage.audit.latest(cohort.id, 20)
    lines = ["<b>" + escape(tr("Latest changes in {cohort}").format(cohort=cohort.name)) + "</b>"]
    for e in entries:
        at = e.at.astimezone(cohort.tz).strftime("%Y-%m-%d %H:%M")
        detail = f"{escape(e.before)} → {escape(e.after)}" if (e.before or e.after) else ""
        lines.append(
            f"• {at} · {e.actor_id or '—'} · <b>{escape(e.action)}</b> {escape(e.target)} {detail}"
        )
    if len(lines) == 1:
        lines.append(tr("Nothing has been changed yet."))
    await reply_long(update, lines)


# -- files ------------------------------------------------------------------------------------


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
        await query.edit_message_text(tr("This import was already confirmed or discarded."))
        return
    if action != "ok":
        await query.edit_message_text(tr("Discarded: nothing was changed."))
        return
    name, content = upload
    # Validate again: the database may have changed since the preview.
    plan = await services.importer.plan_files([(name, content)])
    if not plan.ok:
        await query.edit_message_text(plan_text(plan, tr), parse_mode=ParseMode.HTML)
        return
    await services.admin.apply_import(context.actor.user_id, plan, name)
    await query.edit_message_text(
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
