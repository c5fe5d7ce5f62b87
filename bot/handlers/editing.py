"""Coordinators edit itineraries from their phones.

/cohorts, /sessions, /cancel, /move, /room and /audit.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from html import escape

from telegram import Update

from bot.context import BotContext
from bot.formatting import day_heading, hhmm
from bot.handlers.common import (
    cohort_for,
    refuse,
    reply,
    reply_long,
    usage,
)
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.storage.models import Cohort, Session

MAX_LIST = 60
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


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
            f"• <code>{escape(cohort.code)}</code> {escape(cohort.name.get(tr.language))} — "
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
        line += f" · {escape(session.location.get(tr.language))}"
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
    lines = [
        "<b>"
        + escape(tr("Latest changes in {cohort}").format(cohort=cohort.name.get(tr.language)))
        + "</b>"
    ]
    for e in entries:
        at = e.at.astimezone(cohort.tz).strftime("%Y-%m-%d %H:%M")
        detail = f"{escape(e.before)} → {escape(e.after)}" if (e.before or e.after) else ""
        lines.append(
            f"• {at} · {e.actor_id or '—'} · <b>{escape(e.action)}</b> {escape(e.target)} {detail}"
        )
    if len(lines) == 1:
        lines.append(tr("Nothing has been changed yet."))
    await reply_long(update, lines)
