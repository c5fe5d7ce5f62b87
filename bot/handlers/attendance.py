"""Attendance in chat: /here and the "✋ I'm here" button, the location check, /absent,
/my_attendance for students; /attendance (the roll-call, with marks by hand),
/attendance_report and /attendance_settings for staff. Private chats only: nothing about
attendance is ever posted in a group."""

from __future__ import annotations

import io
import re
from html import escape

from babel.numbers import format_decimal
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.formatting import day_name, fit_message, hhmm
from bot.handlers.common import (
    cohort_for,
    current_cohort,
    edit,
    pressed,
    refuse,
    reply,
    reply_long,
    usage,
)
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.attendance import (
    LIMITS,
    REASONS,
    CheckIn,
    CheckInOutcome,
    Mark,
    RollCall,
    letter,
)
from bot.services.checkin import ABSENT_ACTION, ANYONE
from bot.storage.attendance import AttendanceRecord, Source, Status
from bot.storage.models import Cohort, Session

ROLL_ACTION = "att"
LATE_CHOICES = (10, 20, 30, 60)
MAX_ROLL_BUTTONS = 90  # Telegram shows at most 100 buttons under a message
POPUP_TITLE = 60  # pop-ups hold 200 characters


# -- check-in -----------------------------------------------------------------------------------


def _title(session: Session, tr: Translator, limit: int = POPUP_TITLE) -> str:
    title = session.title.get(tr.language)
    return title if len(title) <= limit else title[: limit - 1] + "…"


def outcome_text(
    outcome: CheckInOutcome, cohort: Cohort | None, tr: Translator, *, popup: bool
) -> str:
    """Plain text (a pop-up or, escaped, a message) saying what happened to a check-in."""
    s = outcome.session
    r = outcome.result
    if s is None or cohort is None or r is CheckIn.NOT_ON_ROLL:
        return tr("Only the students of this session's group can check in for it.")
    title = _title(s, tr) if popup else s.title.get(tr.language)
    if r is CheckIn.PRESENT or r is CheckIn.LATE:
        text = "✅ " + (
            tr("Welcome! You are checked in: {title}")
            if r is CheckIn.PRESENT
            else tr("Checked in, late: {title}")
        ).format(title=title)
        if outcome.record is not None and outcome.record.verdict == "verified":
            text += " 📍 " + tr("Location confirmed.")
        return text
    if r is CheckIn.TOO_EARLY:
        assert outcome.opens is not None
        return tr("Check-in opens at {time}: {title}").format(
            title=title, time=hhmm(outcome.opens, cohort)
        )
    if r is CheckIn.CLOSED:
        assert outcome.closes is not None
        return tr(
            "Check-in for {title} closed at {time}. If you are there, tell your supervisor."
        ).format(title=title, time=hhmm(outcome.closes, cohort))
    if r is CheckIn.CANCELLED:
        return tr("Cancelled, nothing to check in for: {title}").format(title=title)
    if r is CheckIn.ALREADY:
        assert outcome.record is not None
        return tr("You have already checked in at {time}: {title}").format(
            title=title, time=hhmm(outcome.record.at, cohort)
        )
    if r is CheckIn.STAFF_MARKED:
        return tr("Your attendance at {title} has already been recorded by staff.").format(
            title=title
        )
    if r is CheckIn.FAR:
        assert outcome.distance_m is not None
        return tr(
            "You seem to be about {distance} away from {title}. Check in when you are there."
        ).format(distance=_distance(outcome.distance_m, tr), title=title)
    return tr("Share your location to check in.")


def _distance(metres: float, tr: Translator) -> str:
    if metres < 1000:
        return tr("{n} m").format(n=int(round(metres, -1)))
    km = format_decimal(round(metres / 1000, 1), locale=tr.locale)
    return tr("{n} km").format(n=km)


def location_keyboard(tr: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [
            [
                KeyboardButton(
                    "📍 " + tr.pgettext("button", "Share my location"), request_location=True
                )
            ]
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def location_prompt(session: Session, tr: Translator) -> str:
    return "📍 " + tr(
        "To confirm you are at <b>{title}</b>, share your location with the button below. "
        "It is checked once and never stored. No location on this device? Send /here again "
        "to check in without it."
    ).format(title=escape(session.title.get(tr.language)))


async def _answer_outcome(
    update: Update, context: BotContext, outcome: CheckInOutcome, *, popup: bool
) -> None:
    tr = context.tr
    session = outcome.session
    cohort = None
    if session is not None:
        cohort = await context.services.storage.cohorts.get(session.cohort_id)
    message = update.effective_message
    if outcome.result is CheckIn.ASK_LOCATION and session is not None and context.user:
        if update.callback_query is not None:
            await update.callback_query.answer()
        # Always in the private chat (a group's card may carry the button too): a location
        # keyboard works only there, and a group must not see who is checking in.
        await context.bot.send_message(
            context.user.telegram_id,
            location_prompt(session, tr),
            parse_mode=ParseMode.HTML,
            reply_markup=location_keyboard(tr),
        )
        return
    text = outcome_text(outcome, cohort, tr, popup=popup)
    if popup and update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
        return
    if message is not None:
        # The location keyboard stays only for another try from nearer by.
        keep = outcome.result is CheckIn.FAR
        await message.reply_text(
            escape(text),
            parse_mode=ParseMode.HTML,
            reply_markup=None if keep else ReplyKeyboardRemove(),
        )


async def here(update: Update, context: BotContext) -> None:
    """/here: check in for the session going on or about to start."""
    cohort = await current_cohort(update, context, Permission.CHECK_IN)
    if cohort is None or context.user is None:
        return
    services = context.services
    uid = context.user.telegram_id
    session = await services.attendance.open_session(cohort, uid)
    if session is None:
        settings = services.attendance.settings_of(cohort.id)
        await reply(
            update,
            context.tr(
                "No session is open for check-in right now. Check-in opens {before} minutes "
                "before a session starts and closes {after} minutes after."
            ).format(before=settings.opens_before, after=settings.closes_after),
        )
        return
    # /here again while a location is awaited for this session: check in without it.
    asked = await services.storage.attendance.location_asked(uid)
    outcome = await services.attendance.check_in(
        uid, session.id, without_location=asked == session.id
    )
    await _answer_outcome(update, context, outcome, popup=False)


async def here_pressed(update: Update, context: BotContext) -> None:
    """The "✋ I'm here" button: the presser checks in for themselves."""
    query = update.callback_query
    if query is None or context.user is None:
        return
    data = CallbackData.decode(query.data)
    uid = context.user.telegram_id
    if data is None or data.user_id not in (ANYONE, uid) or not is_number(data.arg):
        await query.answer(context.tr("This button is not for you."), show_alert=True)
        return
    outcome = await context.services.attendance.check_in(uid, int(data.arg))
    await _answer_outcome(update, context, outcome, popup=True)


async def location_received(update: Update, context: BotContext) -> None:
    """A shared location: the answer to a location check-in, checked and forgotten."""
    message = update.effective_message
    if message is None or message.location is None or context.user is None:
        return
    tr = context.tr
    services = context.services
    uid = context.user.telegram_id
    session_id = await services.storage.attendance.location_asked(uid)
    if session_id is None:
        await reply(update, tr("Thanks, but I was not waiting for a location."))
        return
    if message.forward_origin is not None:
        await reply(
            update, tr("Please share your current location with the button, not a forwarded one.")
        )
        return
    location = (message.location.latitude, message.location.longitude)
    outcome = await services.attendance.check_in(uid, session_id, location=location)
    if outcome.result is not CheckIn.FAR:  # done, or nothing left to check in for
        await services.storage.attendance.location_done(uid)
    await _answer_outcome(update, context, outcome, popup=False)


# -- absences -----------------------------------------------------------------------------------


def _absence_usage(tr: Translator) -> str:
    return tr(
        "Usage: /absent [session #] ill|late [minutes]|other [a short note], e.g. "
        "/absent ill Fever, seeing a doctor"
    )


async def absent(update: Update, context: BotContext) -> None:
    """/absent: buttons to choose a session and a reason, or all in one line."""
    cohort = await current_cohort(update, context, Permission.CHECK_IN)
    if cohort is None or context.user is None:
        return
    tr = context.tr
    services = context.services
    uid = context.user.telegram_id
    sessions = await services.attendance.reportable(cohort, uid)
    if not sessions:
        await reply(update, tr("You have no more sessions today to report an absence for."))
        return
    args = list(context.args or [])
    if not args:
        rows = [
            [_button(tr, ABSENT_ACTION, uid, f"s:{s.id}",
                     f"{hhmm(s.starts_at, cohort)} {_title(s, tr, 40)}")]
            for s in sessions[:10]
        ]  # fmt: skip
        if len(sessions) > 1:
            rows.append([_button(tr, ABSENT_ACTION, uid, "s:all", tr("All of today's sessions"))])
        await reply(
            update, tr("Which session will you miss or be late for?"), InlineKeyboardMarkup(rows)
        )
        return
    chosen = sessions
    first = args[0].lstrip("#")
    if is_number(first):
        chosen = [s for s in sessions if s.id == int(first)]
        args = args[1:]
        if not chosen:
            text = tr("Session #{id} is not one of your sessions still to come today.")
            await reply(update, text.format(id=escape(first[:12])))
            return
    reason = args[0].lower() if args else ""
    if reason not in REASONS:
        await usage(update, _absence_usage(tr))
        return
    args = args[1:]
    minutes = None
    if reason == "late" and args and is_number(args[0]):
        minutes = min(int(args[0]), 600)
        args = args[1:]
    done = await services.attendance.report_absence(
        context.user, cohort, chosen, reason, minutes, " ".join(args)
    )
    await reply(update, _reported_text(done, cohort, tr))


def _reported_text(done: list[Session], cohort: Cohort, tr: Translator) -> str:
    if not done:
        return tr("Nothing was recorded: those sessions are over or already recorded.")
    lines = [tr("Thank you. Your supervisor has been told:")]
    lines += [f"• {hhmm(s.starts_at, cohort)} {escape(s.title.get(tr.language))}" for s in done]
    return "\n".join(lines)


def _button(tr: Translator, action: str, uid: int, arg: str, label: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=CallbackData(action, uid, arg).encode())


async def absent_pressed(update: Update, context: BotContext) -> None:
    """s:<session|all> -> reasons; r:<session|all>:<reason> -> recorded (late: minutes first);
    m:<session|all>:<minutes> -> recorded as late."""
    query = update.callback_query
    if query is None or context.user is None:
        return
    tr = context.tr
    data = CallbackData.decode(query.data)
    uid = context.user.telegram_id
    if data is None or data.user_id not in (ANYONE, uid):
        await query.answer(tr("This button is not for you."), show_alert=True)
        return
    services = context.services
    parts = data.arg.split(":")
    which = parts[1] if len(parts) > 1 else ""
    # A nudge names its session, whose group may not be the one the student reads now.
    cohort_id = context.user.cohort_id
    if is_number(which):
        session = await services.storage.sessions.get(int(which))
        cohort_id = session.cohort_id if session is not None else None
    cohort = await services.storage.cohorts.get(cohort_id) if cohort_id is not None else None
    if cohort is None or not allowed(context.actor, Permission.CHECK_IN, cohort.id):
        await query.answer(refuse(context), show_alert=True)
        return
    sessions = await services.attendance.reportable(cohort, uid)
    chosen = sessions if which == "all" else [s for s in sessions if str(s.id) == which]
    if not chosen or parts[0] not in ("s", "r", "m"):
        await query.answer(
            tr("Nothing was recorded: those sessions are over or already recorded."),
            show_alert=True,
        )
        return
    await query.answer()
    if parts[0] == "s":
        labels = {"ill": "🤒 " + tr.pgettext("button", "I'm ill"),
                  "late": "⏰ " + tr.pgettext("button", "I'll be late"),
                  "other": "📝 " + tr.pgettext("button", "Another reason")}  # fmt: skip
        rows = [[_button(tr, ABSENT_ACTION, uid, f"r:{which}:{r}", labels[r])] for r in REASONS]
        await edit(query, tr("What is the reason?"), InlineKeyboardMarkup(rows))
        return
    if parts[0] == "r" and len(parts) == 3 and parts[2] == "late":
        row = [
            _button(tr, ABSENT_ACTION, uid, f"m:{which}:{n}", tr("{n} min").format(n=n))
            for n in LATE_CHOICES
        ]
        await edit(query, tr("About how late will you be?"), InlineKeyboardMarkup([row]))
        return
    if parts[0] == "r" and len(parts) == 3 and parts[2] in REASONS:
        reason, minutes = parts[2], None
    elif parts[0] == "m" and len(parts) == 3 and is_number(parts[2]):
        reason, minutes = "late", min(int(parts[2]), 600)
    else:
        return
    done = await services.attendance.report_absence(context.user, cohort, chosen, reason, minutes)
    text = _reported_text(done, cohort, tr)
    if done:
        text += "\n" + tr("To add a note, write it after the command: /absent ill Fever")
    await edit(query, text)


# -- the roll-call ------------------------------------------------------------------------------


def status_label(status: Status | None, started: bool, tr: Translator) -> str:
    """A status with its sign; None is "missing" once the session has begun."""
    if status is None:
        if not started:
            return "⏳ " + tr.pgettext("attendance", "not checked in yet")
        return "❓ " + tr.pgettext("attendance", "missing")
    signs = {Status.PRESENT: "✅", Status.LATE: "⏰", Status.EXCUSED: "🟡", Status.ABSENT: "❌"}
    return signs[status] + " " + status_label_plain(status, tr)


def _status(record: AttendanceRecord | None) -> Status | None:
    return record.status if record is not None else None


def _detail(record: AttendanceRecord | None, cohort: Cohort, tr: Translator) -> str:
    if record is None:
        return ""
    bits = []
    if record.source is Source.CHECKIN:
        bits.append(hhmm(record.at, cohort))
        if record.verdict == "verified":
            bits.append("📍 " + tr("within {n} m").format(n=record.distance_bucket))
        else:
            bits.append(tr("self-reported"))
    elif record.source is Source.REPORT:
        reasons = {"ill": tr("ill"), "late": tr("late"), "other": tr("another reason")}
        reason = reasons.get(record.reason, "")
        if record.late_minutes:
            reason += " " + tr("{n} min").format(n=record.late_minutes)
        bits.append(tr("reported: {reason}").format(reason=reason))
    else:
        bits.append(tr("marked by staff"))
    if record.note:
        bits.append("“" + escape(record.note) + "”")
    return ", ".join(bits)


def roll_call_text(roll: RollCall, tr: Translator) -> str:
    s, cohort = roll.session, roll.cohort
    local = s.starts_at.astimezone(cohort.tz).date()
    head = (
        f"📋 <b>{escape(s.title.get(tr.language))}</b> <code>#{s.id}</code>\n"
        f"{escape(day_name(local, tr))}, {hhmm(s.starts_at, cohort)}–{hhmm(s.ends_at, cohort)}"
    )
    if s.cancelled:
        head += "\n❌ " + tr("This session is cancelled.")
    counts = [
        f"{status_label(st, True, tr)}: {roll.count(st)}"
        for st in (Status.PRESENT, Status.LATE, Status.EXCUSED, Status.ABSENT)
    ]
    counts.append(f"{status_label(None, roll.started, tr)}: {roll.count(None)}")

    summary = tr.ngettext("{n} student", "{n} students", len(roll.students)).format(
        n=len(roll.students)
    )
    lines = [head, f"{summary}: " + " · ".join(counts), ""]
    order = {Status.PRESENT: 0, Status.LATE: 1, Status.EXCUSED: 2, Status.ABSENT: 3}
    students = sorted(
        roll.students, key=lambda p: (order.get(p[1].status, 4) if p[1] else 4,
                                      p[0].display_name.lower()),
    )  # fmt: skip
    for user, record in students:
        line = f"{status_label(_status(record), roll.started, tr)} · {escape(user.display_name)}"
        if detail := _detail(record, cohort, tr):
            line += f" ({detail})"
        lines.append(line)
    if not roll.students:
        lines.append(tr("No students in this group yet."))
    else:
        lines += ["", tr("Tap a name to mark the student by hand.")]
    return "\n".join(lines)


def roll_call_markup(roll: RollCall, uid: int, tr: Translator) -> InlineKeyboardMarkup:
    sid = roll.session.id
    buttons = [
        _button(tr, ROLL_ACTION, uid, f"s:{sid}:{u.telegram_id}", u.display_name[:30])
        for u, _ in sorted(roll.students, key=lambda p: p[0].display_name.lower())
    ][:MAX_ROLL_BUTTONS]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(
        [_button(tr, ROLL_ACTION, uid, f"v:{sid}", "🔄 " + tr.pgettext("button", "Refresh"))]
    )
    return InlineKeyboardMarkup(rows)


async def attendance(update: Update, context: BotContext) -> None:
    """/attendance [session #]: the roll-call of the current or given session."""
    if context.user is None:
        return
    tr = context.tr
    services = context.services
    args = context.args or []
    if args and not is_number(args[0].lstrip("#")):  # a group's code: its current session
        cohort = await cohort_for(update, context, Permission.VIEW_ATTENDANCE, args[0])
        if cohort is None:
            return
        session = await services.attendance.roll_call_session(cohort)
        if session is None:
            await reply(update, tr("There are no sessions left in this group's programme."))
            return
    elif args:
        number = args[0].lstrip("#")
        session = await services.storage.sessions.get(int(number)) if is_number(number) else None
        if session is None or not allowed(context.actor, Permission.VIEW_ATTENDANCE,
                                          session.cohort_id):  # fmt: skip
            if context.actor.is_coordinator:
                await reply(
                    update, tr("There is no session #{id}.").format(id=escape(number[:12]))
                )
            else:  # nothing about another group's sessions, not even whether one exists
                await reply(update, refuse(context))
            return
        cohort = await services.storage.cohorts.get(session.cohort_id)
    else:
        cohort = await cohort_for(update, context, Permission.VIEW_ATTENDANCE, None)
        if cohort is None:
            return
        session = await services.attendance.roll_call_session(cohort)
        if session is None:
            await reply(update, tr("There are no sessions left in this group's programme."))
            return
    if cohort is None:
        return
    roll = await services.attendance.roll_call(session, cohort)
    uid = context.user.telegram_id
    # A long roll-call goes as several messages, the buttons under the last.
    await reply(update, roll_call_text(roll, tr), roll_call_markup(roll, uid, tr))


async def roll_pressed(update: Update, context: BotContext) -> None:
    """v:<session> refresh; s:<session>:<student> the student's card;
    m:<session>:<student>:<P|E|A> a mark by hand."""
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    services = context.services
    parts = data.arg.split(":")
    session = None
    if len(parts) >= 2 and is_number(parts[1]):
        session = await services.storage.sessions.get(int(parts[1]))
    if session is None or not allowed(context.actor, Permission.MARK_ATTENDANCE,
                                      session.cohort_id):  # fmt: skip
        await query.answer(refuse(context), show_alert=True)
        return
    cohort = await services.storage.cohorts.get(session.cohort_id)
    assert cohort is not None
    uid = context.user.telegram_id
    student_id = int(parts[2]) if len(parts) >= 3 and is_number(parts[2]) else None
    if parts[0] in ("s", "m") and (
        student_id is None or not await services.attendance.is_student(student_id, cohort.id)
    ):
        await query.answer(tr("This student is not in the group."), show_alert=True)
        return
    if parts[0] == "m" and len(parts) == 4 and parts[3] in ("P", "E", "A"):
        assert student_id is not None
        status = {"P": Status.PRESENT, "E": Status.EXCUSED, "A": Status.ABSENT}[parts[3]]
        result = await services.attendance.mark(uid, session, student_id, status)
        label = status_label_plain(status, tr)
        if result is Mark.UNCHANGED:
            await query.answer(tr("Already marked: {status}.").format(status=label))
        else:
            await query.answer(tr("Marked: {status}.").format(status=label))
        roll = await services.attendance.roll_call(session, cohort)
        await edit(query, fit_message(roll_call_text(roll, tr)), roll_call_markup(roll, uid, tr))
        return
    if parts[0] == "s":
        assert student_id is not None
        await query.answer()
        student = await services.storage.users.get(student_id)
        record = await services.storage.attendance.get(session.id, student_id)
        name = escape(student.display_name if student else str(student_id))
        started = session.starts_at <= services.clock.now()
        text = tr("<b>{name}</b> at <b>{title}</b> ({time}): {status}. Mark as:").format(
            name=name, title=escape(session.title.get(tr.language)),
            time=hhmm(session.starts_at, cohort),
            status=status_label(_status(record), started, tr),
        )  # fmt: skip
        marks = [
            _button(tr, ROLL_ACTION, uid, f"m:{session.id}:{student_id}:{code}",
                    status_label(st, True, tr))
            for code, st in (("P", Status.PRESENT), ("E", Status.EXCUSED), ("A", Status.ABSENT))
        ]  # fmt: skip
        back = _button(
            tr, ROLL_ACTION, uid, f"v:{session.id}", "« " + tr.pgettext("button", "Back")
        )
        await edit(query, text, InlineKeyboardMarkup([marks, [back]]))
        return
    await query.answer()
    roll = await services.attendance.roll_call(session, cohort)
    await edit(query, fit_message(roll_call_text(roll, tr)), roll_call_markup(roll, uid, tr))


def status_label_plain(status: Status, tr: Translator) -> str:
    return {
        Status.PRESENT: tr.pgettext("attendance", "present"),
        Status.LATE: tr.pgettext("attendance", "late"),
        Status.EXCUSED: tr.pgettext("attendance", "excused"),
        Status.ABSENT: tr.pgettext("attendance", "absent"),
    }[status]


# -- each student's own record ------------------------------------------------------------------


def _hours(value: float, tr: Translator) -> str:
    return format_decimal(round(value, 2), format="#,##0.##", locale=tr.locale)


async def my_attendance(update: Update, context: BotContext) -> None:
    """/my_attendance: the student's own sessions attended, hours per department, absences."""
    cohort = await current_cohort(update, context, Permission.CHECK_IN)
    if cohort is None or context.user is None:
        return
    tr = context.tr
    record = await context.services.attendance.student_record(
        context.user.telegram_id, cohort, tr.language
    )
    lines = ["📊 <b>" + tr("Your attendance") + "</b>"]
    if not record.sessions:
        lines.append(tr("No sessions have taken place yet."))
        await reply(update, "\n".join(lines))
        return
    lines.append(
        tr("Sessions attended: {n} of {total}").format(
            n=record.attended, total=len(record.sessions)
        )
    )
    lines.append(tr("Hours attended: {hours}").format(hours=_hours(record.total_hours, tr)))
    for department, hours in sorted(record.hours.items()):
        lines.append(f"• {escape(department)}: " + tr("{hours} h").format(hours=_hours(hours, tr)))
    missed = [s for s in record.sessions if letter(record.records.get(s.id)) in ("E", "A")]
    if missed:
        lines += ["", tr("Absences:")]
        for s in missed:
            r = record.records.get(s.id)
            local = s.starts_at.astimezone(cohort.tz).date()
            lines.append(
                f"• {escape(day_name(local, tr))} {hhmm(s.starts_at, cohort)} "
                f"{escape(s.title.get(tr.language))} — {status_label(_status(r), True, tr)}"
            )
    await reply_long(update, lines)


# -- the record ---------------------------------------------------------------------------------


async def attendance_report(update: Update, context: BotContext) -> None:
    """/attendance_report [cohort]: the XLSX record of the programme."""
    args = context.args or []
    code = args[0] if args else None
    cohort = await cohort_for(update, context, Permission.VIEW_ATTENDANCE, code)
    if cohort is None or update.effective_message is None:
        return
    services = context.services
    from bot.services.attendance_report import attendance_report as build_report  # openpyxl

    data = await build_report(services.storage, cohort, services.clock.now(), context.tr)
    filename = "attendance-" + re.sub(r"[^A-Za-z0-9_-]+", "-", cohort.code) + ".xlsx"
    await update.effective_message.reply_document(
        InputFile(io.BytesIO(data), filename=filename),
        caption=context.tr("Attendance record of {group}.").format(group=cohort.code)[:1000],
    )


_SETTING_KEYS = {"opens": "opens_before", "closes": "closes_after", "nudge": "nudge_after",
                 "missing": "missing_after", "radius": "radius_m"}  # fmt: skip


async def attendance_settings(update: Update, context: BotContext) -> None:
    """/attendance_settings <cohort> [opens N] [closes N] [nudge N] [missing N]
    [location on|off] [radius N]: a coordinator sets a cohort's check-in rules."""
    tr = context.tr
    args = context.args or []
    if not args:
        await usage(update, _settings_usage(tr))
        return
    cohort = await cohort_for(update, context, Permission.EDIT_ITINERARY, args[0])
    if cohort is None:
        return
    changes: dict[str, int | bool] = {}
    rest = args[1:]
    if len(rest) % 2:
        await usage(update, _settings_usage(tr))
        return
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        key = key.lower()
        if key == "location" and value.lower() in ("on", "off"):
            changes["location"] = value.lower() == "on"
        elif key in LIMITS and is_number(value) and LIMITS[key][0] <= int(value) <= LIMITS[key][1]:
            changes[_SETTING_KEYS[key]] = int(value)
        else:
            await usage(update, _settings_usage(tr))
            return
    attendance_service = context.services.attendance
    if changes:
        s = await attendance_service.change_settings(cohort, **changes)
    else:
        s = attendance_service.settings_of(cohort.id)
    await reply(
        update,
        tr(
            "Check-in for {group}: from {opens} min before a session to {closes} min after; "
            "nudge at {nudge} min, list of the missing at {missing} min; location check: "
            "{location} (within {radius} m)."
        ).format(
            group=escape(cohort.code), opens=s.opens_before, closes=s.closes_after,
            nudge=s.nudge_after, missing=s.missing_after,
            location=tr("on") if s.location else tr("off"), radius=s.radius_m,
        ),
    )  # fmt: skip


def _settings_usage(tr: Translator) -> str:
    return tr(
        "Usage: /attendance_settings <group> [opens N] [closes N] [nudge N] [missing N] "
        "[location on|off] [radius N]"
    )
