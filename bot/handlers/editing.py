"""Coordinators edit itineraries from their phones.

/cohorts, /sessions, /cancel, /restore, /move, /room and /audit.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html import escape

from telegram import Update

from bot.context import BotContext
from bot.formatting import day_heading, hhmm, local_date, local_moment
from bot.handlers.common import (
    cohort_for,
    refuse,
    reply,
    reply_long,
    role_name,
    usage,
)
from bot.i18n import N_, Translator
from bot.parsing import is_number, parse_date, parse_time
from bot.services.access import Permission, allowed
from bot.services.admin import AuditView, ChangeRefused, Person, Refusal
from bot.services.itinerary import SPAN_DAYS, Phase, Span
from bot.storage.models import Cohort, Role, Session

MAX_LIST = 60


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
            f"{local_date(cohort.arrives, tr)} – {local_date(cohort.departs, tr)}, "
            f"{escape(cohort.timezone)}, "
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


def _not_a_date(text: str, tr: Translator) -> str:
    return "⚠️ " + tr(
        "“{value}” is not a date I can use: write it as YYYY-MM-DD, with a year from 2000 to 2099."
    ).format(value=escape(text[:20]))


def _not_a_time(text: str, tr: Translator) -> str:
    return "⚠️ " + tr("“{value}” is not a time: write it as HH:MM, from 00:00 to 23:59.").format(
        value=escape(text[:20])
    )


SESSIONS_USAGE = N_("Usage: /sessions <cohort code> [YYYY-MM-DD | from-date to-date]")


async def sessions(update: Update, context: BotContext) -> None:
    """A group's sessions with their numbers: a week by default, a day, or a range."""
    tr = context.tr
    args = context.args or []
    if not 1 <= len(args) <= 3:
        await usage(update, tr(SESSIONS_USAGE))
        return
    cohort = await cohort_for(update, context, Permission.EDIT_ITINERARY, args[0])
    if cohort is None:
        return
    itinerary = context.services.itinerary
    phase = None
    if len(args) == 1:
        first, last, phase = itinerary.default_range(cohort)
    else:
        days = [parse_date(a) for a in args[1:]]
        for text, day in zip(args[1:], days, strict=True):
            if day is None:
                await reply(update, _not_a_date(text, tr))
                return
        first, last = days[0], days[-1]  # type: ignore[assignment]
        if first > last:
            await reply(update, "⚠️ " + tr("The first date must not be later than the second one."))
            return
    span = await itinerary.span(cohort, first, last)
    await reply_long(update, _span_lines(span, cohort, phase, itinerary.local_today(cohort), tr))


def _span_lines(
    span: Span, cohort: Cohort, phase: Phase | None, today: date, tr: Translator
) -> list[str]:
    title = tr("Sessions of {cohort}").format(cohort=cohort.name.get(tr.language))
    if span.first == span.last:
        covered = local_date(span.first, tr)
    else:
        covered = f"{local_date(span.first, tr)} – {local_date(span.last, tr)}"
    lines = [f"<b>{escape(title)}</b> (<code>{escape(cohort.code)}</code>)\n📅 {covered}"]
    if phase is Phase.BEFORE:
        lines.append(
            tr("The programme has not started yet: here is its first week, from {day}.").format(
                day=local_date(cohort.arrives, tr)
            )
        )
    elif phase is Phase.AFTER:
        lines.append(
            tr("The programme is over: here is its last week, up to {day}.").format(
                day=local_date(cohort.departs, tr)
            )
        )
    for day in span.days:
        heading = day_heading(day.date, tr, year=day.date.year != today.year)
        lines.append(f"\n<b>{escape(heading)}</b>")
        lines.extend(session_line(s, cohort, tr) for s in day.sessions[:MAX_LIST])
        if len(day.sessions) > MAX_LIST:
            hidden = len(day.sessions) - MAX_LIST
            lines.append(tr("…and {n} more.").format(n=hidden))
    if not span.days:
        lines.append("\n" + tr("No sessions in these days."))
    if span.later and span.next_day is not None:
        command = (
            f"/sessions {cohort.code} {span.next_day.isoformat()} "
            f"{(span.next_day + timedelta(days=SPAN_DAYS - 1)).isoformat()}"
        )
        lines.append(
            "\n"
            + tr.ngettext(
                "{n} more session after {day}: {command}",
                "{n} more sessions after {day}: {command}",
                span.later,
            ).format(
                n=span.later,
                day=local_date(span.last, tr),
                command=f"<code>{escape(command)}</code>",
            )
        )
    lines.append("\n" + tr("Change one with /cancel, /move, /room or /restore and its #number."))
    return lines


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


def _changed(session: Session, cohort: Cohort, context: BotContext) -> str:
    tr = context.tr
    local = session.starts_at.astimezone(cohort.tz).date()
    this_year = context.services.clock.now().astimezone(cohort.tz).year
    day = escape(day_heading(local, tr, year=local.year != this_year))
    return (
        "✅ "
        + tr("Saved. Members have been told if it is within 48 hours, and reminders follow.")
        + f"\n{day}\n{session_line(session, cohort, tr)}"
    )


def _refusal(refused: ChangeRefused, session: Session, cohort: Cohort, tr: Translator) -> str:
    if refused.reason is Refusal.PAST:
        text = tr("Not moved: that moment has already passed.")
    elif refused.reason is Refusal.OUTSIDE_PROGRAMME:
        text = tr(
            "Not moved: the programme of {cohort} runs from {arrives} to {departs}; choose a "
            "day within it."
        ).format(
            cohort=escape(cohort.code),
            arrives=local_date(cohort.arrives, tr),
            departs=local_date(cohort.departs, tr),
        )
    elif refused.reason is Refusal.STALE:
        text = tr(
            "Not saved: session #{id} was changed a moment ago by someone else. Check it with "
            "/sessions and send the command again if it still applies."
        ).format(id=session.id)
    elif refused.reason is Refusal.CANCELLED:
        text = tr(
            "Not moved: session #{id} is cancelled. Restore it first with /restore {id}, "
            "then move it."
        ).format(id=session.id)
    else:
        text = tr("Session #{id} is not cancelled: there is nothing to restore.").format(
            id=session.id
        )
    return "⚠️ " + text


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
    try:
        updated = await context.services.admin.cancel(context.actor.user_id, session, reason)
    except ChangeRefused as refused:
        await reply(update, _refusal(refused, session, cohort, context.tr))
        return
    await reply(update, _changed(updated, cohort, context))


async def restore_session(update: Update, context: BotContext) -> None:
    """/restore <#>: a cancelled session back on the schedule; members are told."""
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /restore <session #>"))
        return
    found = await _session_arg(update, context, args[0])
    if found is None:
        return
    session, cohort = found
    try:
        updated = await context.services.admin.restore(context.actor.user_id, session)
    except ChangeRefused as refused:
        await reply(update, _refusal(refused, session, cohort, tr))
        return
    await reply(update, _changed(updated, cohort, context))


async def move_session(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 3:
        await usage(update, tr("Usage: /move <session #> <YYYY-MM-DD> <HH:MM>"))
        return
    found = await _session_arg(update, context, args[0])
    if found is None:
        return
    session, cohort = found
    day = parse_date(args[1])
    if day is None:
        await reply(update, _not_a_date(args[1], tr))
        return
    at = parse_time(args[2])
    if at is None:
        await reply(update, _not_a_time(args[2], tr))
        return
    starts_at = datetime.combine(day, at, tzinfo=cohort.tz)
    try:
        updated = await context.services.admin.move(
            context.actor.user_id, session, cohort, starts_at
        )
    except ChangeRefused as refused:
        await reply(update, _refusal(refused, session, cohort, tr))
        return
    await reply(update, _changed(updated, cohort, context))


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
    try:
        updated = await context.services.admin.room(
            context.actor.user_id, session, " ".join(parts[2].split())
        )
    except ChangeRefused as refused:
        await reply(update, _refusal(refused, session, cohort, tr))
        return
    await reply(update, _changed(updated, cohort, context))


async def audit(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /audit <cohort code>"))
        return
    cohort = await cohort_for(update, context, Permission.VIEW_AUDIT, args[0])
    if cohort is None:
        return
    views = await context.services.admin.audit_log(cohort, 20)
    lines = [
        "<b>"
        + escape(tr("Latest changes in {cohort}").format(cohort=cohort.name.get(tr.language)))
        + "</b>"
    ]
    for view in views:
        lines.append("\n" + audit_text(view, cohort, tr))
    if len(lines) == 1:
        lines.append(tr("Nothing has been changed yet."))
    await reply_long(update, lines)


# -- /audit, in the reader's language --------------------------------------------------------


def _person(person: Person, tr: Translator) -> str:
    if person.name is None:
        return escape(tr("a former user (id {id})").format(id=person.user_id))
    return escape(person.name)


def _who(view: AuditView, tr: Translator) -> str:
    if view.actor is not None:
        return _person(view.actor, tr)
    if view.entry.action == "import":
        return escape(tr("the import command"))
    return escape(tr("the system"))


def _what(view: AuditView, tr: Translator) -> str:
    """One translated sentence per kind of action; unknown kinds show their stored words."""
    e = view.entry
    session = ""
    if view.session_id is not None:
        session = f"#{view.session_id}"
        if view.session_title is not None:
            session += f" <i>{escape(view.session_title.get(tr.language))}</i>"
    subject = _person(view.subject, tr) if view.subject is not None else escape(e.target)
    texts = {
        "cancel": lambda: tr("Session {session} cancelled").format(session=session),
        "move": lambda: tr("Session {session} moved").format(session=session),
        "room": lambda: tr("Session {session}: place changed").format(session=session),
        "restore": lambda: tr("Session {session} restored").format(session=session),
        "import": lambda: tr("Imported from {file}").format(file=f"<i>{escape(e.target)}</i>"),
        "revoke_invite": lambda: tr("Invite link {code} withdrawn").format(
            code=f"<code>{escape(e.target)}</code>"
        ),
        "grant": lambda: tr("{person} made a coordinator").format(person=subject),
        "revoke_role": lambda: tr("{person}: role taken away").format(person=subject),
        "supervisor_joined": lambda: tr(
            "{person} became a supervisor through an invite link"
        ).format(person=subject),
        "purge": lambda: tr("Members' data deleted at the end of the programme"),
        "task_done": lambda: tr("{person}: a task ticked by hand").format(person=subject),
        "task_accept": lambda: tr("{person}: a proof accepted").format(person=subject),
        "task_reject": lambda: tr("{person}: a proof sent back").format(person=subject),
    }
    if e.action in texts:
        return texts[e.action]()
    return escape(f"{e.action} {e.target}".strip())


def _moment(moment: datetime, cohort: Cohort, tr: Translator) -> str:
    return escape(local_moment(moment, cohort.tz, tr))


def _details(view: AuditView, cohort: Cohort, tr: Translator) -> list[str]:
    """Before → after from the stored data; older entries' plain text as it is."""
    e = view.entry
    if view.counts is not None:
        c = view.counts
        lines = [
            tr("Sessions: {added} new, {changed} changed, {cancelled} cancelled").format(
                added=c.added, changed=c.changed, cancelled=c.cancelled
            )
        ]
        if c.contact_lists:
            lines.append(
                tr.ngettext(
                    "{n} contact list replaced", "{n} contact lists replaced", c.contact_lists
                ).format(n=c.contact_lists)
            )
        return [escape(line) for line in lines]
    before, after = view.before, view.after
    if before is not None and after is not None:
        lines = []
        if before.starts != after.starts:
            lines.append(
                f"🕘 {_moment(before.starts, cohort, tr)} → {_moment(after.starts, cohort, tr)}"
            )
        if before.location != after.location:
            lines.append(f"📍 {escape(before.location or '—')} → {escape(after.location or '—')}")
        if after.cancelled and not before.cancelled and after.reason:
            lines.append(escape(tr("Reason: {reason}").format(reason=after.reason)))
        if before.cancelled and not after.cancelled:
            lines.append(f"🕘 {_moment(after.starts, cohort, tr)}")
        return lines
    if e.action in ROLE_ACTIONS:
        return _role_details(view, tr)
    if e.before or e.after:
        return [f"{escape(e.before)} → {escape(e.after)}" if e.before else escape(e.after)]
    return []


ROLE_ACTIONS = frozenset({"grant", "revoke_role", "supervisor_joined"})


def _role_details(view: AuditView, tr: Translator) -> list[str]:
    """Roles as they are stored ("coordinator, supervisor@TPI-2026", "student"), in words;
    anything else as it is."""
    e = view.entry
    lines = []
    if e.before:
        roles = _stored_roles(e.before, view, tr)
        lines.append(tr("Before: {roles}").format(roles=roles) if roles else e.before)
    if e.action == "revoke_role" and e.after:
        after = {
            "student": tr("Stays a student of the group"),
            "removed": tr("Removed from the group"),
        }
        lines.append(after.get(e.after, e.after))
    return [escape(line) for line in lines]


# Stored roles: "coordinator", "student", "supervisor@TPI-2026", "member@TPI-2026"; entries
# written before named the group by its number ("supervisor@3").
_STORED_ROLE = re.compile(r"(student|supervisor|coordinator|member)(?:@(\S{1,64}))?")


def _stored_roles(text: str, view: AuditView, tr: Translator) -> str | None:
    """The stored roles in words; None if the text is not such a list."""
    names = []
    for part in text.split(", "):
        match = _STORED_ROLE.fullmatch(part.strip())
        if match is None:
            return None
        role, group = match[1], match[2]
        if group is not None and is_number(group):
            group = view.cohort_codes.get(int(group), group)
        if role == "member":
            name = tr("member of group {group}").format(group=group or "?")
        else:
            name = role_name(Role(role), tr)
            if group is not None:
                name = tr("{role} of group {group}").format(role=name, group=group)
        names.append(name)
    return ", ".join(names)


def audit_text(view: AuditView, cohort: Cohort, tr: Translator) -> str:
    head = f"🕘 {_moment(view.entry.at, cohort, tr)} · 👤 {_who(view, tr)}"
    lines = [head, f"<b>{_what(view, tr)}</b>", *_details(view, cohort, tr)]
    return "\n".join(lines)
