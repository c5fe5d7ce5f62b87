"""/start (with or without an invite code), /help, and the answers to anything else."""

from __future__ import annotations

from html import escape

from telegram import Update

from bot.commands import commands_for, register_user_menu
from bot.context import BotContext
from bot.handlers.common import how_to_join, reply, role_name
from bot.services.invites import JoinOutcome
from bot.storage.models import Role


async def start(update: Update, context: BotContext) -> None:
    tr = context.tr
    if context.args:
        await _join(update, context, context.args[0])
        return
    user = context.user
    if user is not None and user.cohort_id is not None:
        cohort = await context.services.storage.cohorts.get(user.cohort_id)
        name = escape(cohort.name.get(tr.language)) if cohort else ""
        await reply(
            update,
            tr("Welcome back! You are in the group {cohort}.").format(cohort=name)
            + "\n\n"
            + tr(
                "Try /today for today's plan, /next for the next session and /contacts for "
                "whom to call. /help lists everything."
            ),
        )
        return
    text = tr(
        "Hello! I am Mobility Bot: your schedule, reminders and contacts for your academic "
        "mobility programme, in Uzbek, Russian or English."
    )
    if context.actor.is_coordinator:
        text += "\n\n" + tr("You are a coordinator. /help lists what you can do.")
        await register_user_menu(context.bot, context.actor.user_id, Role.COORDINATOR, tr)
    else:
        text += "\n\n" + how_to_join(context)
    text += "\n\n" + tr("To change the language, send /language.")
    await reply(update, text)


async def _join(update: Update, context: BotContext, code: str) -> None:
    tr = context.tr
    services = context.services
    user = context.user
    if user is None:
        return
    result = await services.invites.join(user.telegram_id, code)
    if result.outcome in (JoinOutcome.JOINED, JoinOutcome.ALREADY_MEMBER):
        assert result.cohort is not None and result.role is not None
        await services.reminders.reschedule_cohort(result.cohort.id)
        if result.outcome is JoinOutcome.JOINED:
            text = tr("Welcome to {cohort}! Your role: {role}.")
        else:
            text = tr("You are already in {cohort}. Your role: {role}.")
        text = text.format(
            cohort=escape(result.cohort.name.get(tr.language)), role=role_name(result.role, tr)
        )
        text += "\n\n" + tr(
            "Try /today for today's plan, /next for the next session and /contacts for whom "
            "to call. /help lists everything."
        )
        await reply(update, text)
        role = Role.COORDINATOR if context.actor.is_coordinator else result.role
        await register_user_menu(context.bot, user.telegram_id, role, tr)
        return
    messages = {
        JoinOutcome.UNKNOWN: tr(
            "This invite link is not valid. Check that you opened the whole link, or ask your "
            "coordinator for a new one."
        ),
        JoinOutcome.EXPIRED: tr(
            "This invite link has expired. Ask your coordinator for a new one."
        ),
        JoinOutcome.USED_UP: tr(
            "This invite link has already been used as many times as allowed. Ask your "
            "coordinator for a new one."
        ),
        JoinOutcome.REVOKED: tr(
            "This invite link has been withdrawn. Ask your coordinator for a new one."
        ),
    }
    await reply(update, "⚠️ " + messages[result.outcome])


async def help_command(update: Update, context: BotContext) -> None:
    tr = context.tr
    role = context.user.role if context.user else None
    if context.actor.is_coordinator:
        role = Role.COORDINATOR
    title = tr("What I can do")
    lines = [f"<b>{title}</b>", ""]
    for command in commands_for(role):
        usage = f" {escape(command.usage)}" if command.usage else ""
        lines.append(f"/{command.name}{usage} — {tr(command.description)}")
    if role is Role.COORDINATOR:
        lines += [
            "",
            tr(
                "To change an itinerary in bulk, send a .csv or .xlsx file with the "
                "caption /import: you get a preview first."
            ),
        ]
    if role is None:
        lines += ["", how_to_join(context)]
    await reply(update, "\n".join(lines))


async def unknown_command(update: Update, context: BotContext) -> None:
    if context.user is None or (
        context.user.cohort_id is None and not context.actor.is_coordinator
    ):
        await reply(update, how_to_join(context))
        return
    await reply(update, context.tr("I don't know that command. Send /help to see what I can do."))


async def plain_text(update: Update, context: BotContext) -> None:
    if context.user is None or (
        context.user.cohort_id is None and not context.actor.is_coordinator
    ):
        await reply(update, how_to_join(context))
        return
    await reply(
        update,
        context.tr("I answer commands, not messages. Send /help to see what I can do."),
    )
