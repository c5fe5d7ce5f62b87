"""/reminders (settings with buttons) and /calendar (the itinerary as an .ics file)."""

from __future__ import annotations

import io
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.handlers.common import current_cohort, edit, pressed, reply
from bot.i18n import Translator
from bot.services.calendar import build_calendar
from bot.services.reminders import LEAD_CHOICES
from bot.storage.models import User

REMINDERS_ACTION = "rem"


def settings_text(
    user: User, leads: tuple[int, ...], tr: Translator, feedback_on: bool | None = None
) -> str:
    on, off = tr("on"), tr("off")
    minutes = ", ".join(
        tr.ngettext("{n} minute", "{n} minutes", lead).format(n=lead) for lead in sorted(leads)
    )
    return "\n".join(
        [
            "<b>" + tr("Your reminders") + "</b>",
            "",
            "🔔 " + tr("Before each session: {state}").format(
                state=on if user.reminders_on else off
            ),
            "⏱ " + tr("How early: {minutes}").format(minutes=minutes),
            "🌙 " + tr("Tomorrow's plan at 20:00: {state}").format(
                state=on if user.digest_on else off
            ),
        ]
        + ([] if feedback_on is None else [
            "📝 " + tr("Feedback after sessions: {state}").format(
                state=on if feedback_on else off
            )
        ])
    )  # fmt: skip


def settings_keyboard(
    user: User, leads: tuple[int, ...], tr: Translator, feedback_on: bool | None = None
) -> InlineKeyboardMarkup:
    uid = user.telegram_id

    def button(label: str, arg: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            label, callback_data=CallbackData(REMINDERS_ACTION, uid, arg).encode()
        )

    toggle = tr("Turn reminders off") if user.reminders_on else tr("Turn reminders on")
    digest = tr("Turn the evening plan off") if user.digest_on else tr("Turn the evening plan on")
    lead_row = [
        button(
            ("✅ " if lead in leads else "") + tr("{n} min").format(n=lead),
            f"lead{lead}",
        )
        for lead in LEAD_CHOICES
    ]
    rows = [[button("🔔 " + toggle, "toggle")], lead_row, [button("🌙 " + digest, "digest")]]
    if feedback_on is not None:
        prompts = (
            tr("Turn feedback prompts off") if feedback_on else tr("Turn feedback prompts on")
        )
        # The button says what it sets (not "toggle"): a second press changes nothing.
        rows.append([button("📝 " + prompts, "prompts_off" if feedback_on else "prompts_on")])
    return InlineKeyboardMarkup(rows)


async def feedback_prompts_on(context: BotContext, user: User) -> bool:
    off = await context.services.storage.feedback.prompts_off([user.telegram_id])
    return user.telegram_id not in off


async def reminders(update: Update, context: BotContext) -> None:
    cohort = await current_cohort(update, context)
    if cohort is None or context.user is None:
        return
    user = context.user
    leads = context.services.reminders.leads_of(user)
    tr = context.tr
    prompts = await feedback_prompts_on(context, user)
    await reply(
        update,
        settings_text(user, leads, tr, prompts),
        settings_keyboard(user, leads, tr, prompts),
    )


async def reminders_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    user = context.user
    if data is None or query is None or user is None:
        return
    tr = context.tr
    services = context.services
    leads = set(services.reminders.leads_of(user))
    reminders_on, digest_on = user.reminders_on, user.digest_on
    match = re.fullmatch(r"lead(\d+)", data.arg)
    if data.arg == "toggle":
        reminders_on = not reminders_on
    elif data.arg == "digest":
        digest_on = not digest_on
    elif data.arg in ("prompts_on", "prompts_off"):
        await services.storage.feedback.set_prompts(user.telegram_id, data.arg == "prompts_on")
    elif match and int(match[1]) in LEAD_CHOICES:
        lead = int(match[1])
        if lead in leads and len(leads) == 1:
            await query.answer(tr("Keep at least one time, or turn reminders off."))
            return
        leads ^= {lead}
    else:
        await query.answer(tr("This button is out of date."))
        return
    await services.storage.users.set_reminder_prefs(
        user.telegram_id, reminders_on=reminders_on, digest_on=digest_on, leads=tuple(leads)
    )
    if user.cohort_id is not None:
        await services.reminders.reschedule_cohort(user.cohort_id)
    updated = await services.storage.users.get(user.telegram_id)
    assert updated is not None
    new_leads = services.reminders.leads_of(updated)
    await query.answer(tr("Saved."))
    prompts = await feedback_prompts_on(context, updated)
    await edit(
        query,
        settings_text(updated, new_leads, tr, prompts),
        settings_keyboard(updated, new_leads, tr, prompts),
    )


async def calendar(update: Update, context: BotContext) -> None:
    cohort = await current_cohort(update, context)
    if cohort is None or context.user is None or update.effective_message is None:
        return
    services = context.services
    sessions = await services.storage.sessions.for_cohort(cohort.id)
    user = context.user
    leads = services.reminders.leads_of(user) if user.reminders_on else ()
    data = build_calendar(cohort, sessions, context.tr, leads, services.clock.now())
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", cohort.code) + ".ics"
    await update.effective_message.reply_document(
        InputFile(io.BytesIO(data), filename=filename),
        caption=context.tr(
            "Your programme as a calendar file: open it to add every session to your phone's "
            "calendar, with reminders. Send /calendar again after changes: events update in "
            "place."
        ),
    )
