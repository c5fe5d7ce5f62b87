"""/today, /tomorrow, /week and /next."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update, WebAppInfo

from bot.context import BotContext
from bot.formatting import countdown, day_text, hhmm, relative_day, session_block
from bot.handlers.common import current_cohort, reply, reply_long


async def today(update: Update, context: BotContext) -> None:
    await _one_day(update, context, tomorrow=False)


async def tomorrow(update: Update, context: BotContext) -> None:
    await _one_day(update, context, tomorrow=True)


async def _one_day(update: Update, context: BotContext, *, tomorrow: bool) -> None:
    cohort = await current_cohort(update, context)
    if cohort is None:
        return
    itinerary = context.services.itinerary
    day = await (itinerary.tomorrow(cohort) if tomorrow else itinerary.today(cohort))
    header = context.tr("Tomorrow") if tomorrow else context.tr("Today")
    # Today's plan marks what is over, what is going on and what comes next.
    now = None if tomorrow else context.services.clock.now()
    text = itinerary.day_text(day, cohort, context.tr, now)
    await reply(update, f"📅 <b>{header}</b> · {text}")


async def week(update: Update, context: BotContext) -> None:
    cohort = await current_cohort(update, context)
    if cohort is None:
        return
    tr = context.tr
    days = await context.services.itinerary.week(cohort)
    busy = [d for d in days if d.sessions]
    # With the Mini App configured, a button opens the week at a glance.
    url = context.services.settings.webapp_url
    markup = None
    if url:
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        tr.pgettext("button", "Open timetable"), web_app=WebAppInfo(url)
                    )
                ]
            ]
        )
    if not busy:
        await reply(update, tr("Nothing is planned for the rest of this week."), markup)
        return
    # Free days are left out; a long week is split across messages.
    parts = [day_text(d.date, d.sessions, cohort, tr) for d in busy]
    await reply_long(update, parts, "\n\n", markup)


async def next_session(update: Update, context: BotContext) -> None:
    cohort = await current_cohort(update, context)
    if cohort is None:
        return
    tr = context.tr
    services = context.services
    current, upcoming = await services.itinerary.next_session(cohort)
    now = services.clock.now()
    parts = []
    if current is not None:
        parts.append(
            tr("Going on now (until {time}):").format(time=hhmm(current.ends_at, cohort))
            + "\n"
            + session_block(current, cohort, tr)
        )
    if upcoming is None:
        parts.append(tr("There are no more sessions in your programme."))
        await reply(update, "\n\n".join(parts))
        return
    starts_local = upcoming.starts_at.astimezone(cohort.tz).date()
    today = now.astimezone(cohort.tz).date()
    when = tr("Next: {day}, starts in {countdown}").format(
        day=escape(relative_day(starts_local, today, tr)),
        countdown=countdown(upcoming.starts_at - now, tr),
    )
    parts.append(f"⏭ <b>{when}</b>\n" + session_block(upcoming, cohort, tr))
    await reply(update, "\n\n".join(parts))
    if upcoming.has_coordinates and update.effective_message is not None:
        place = upcoming.location.get(tr.language) or upcoming.department.get(tr.language)
        await update.effective_message.reply_venue(
            latitude=upcoming.latitude,
            longitude=upcoming.longitude,
            title=upcoming.title.get(tr.language)[:100],
            address=place[:100] or "—",
        )
