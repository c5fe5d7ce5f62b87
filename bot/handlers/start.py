"""/start (with or without an invite code), /help, and the answers to anything else."""

from __future__ import annotations

from html import escape

from telegram import Update

from bot.commands import commands_for, register_user_menu
from bot.context import BotContext
from bot.handlers.common import highest_role, how_to_join, reply
from bot.handlers.joining import join_with_code
from bot.storage.models import Role


async def start(update: Update, context: BotContext) -> None:
    tr = context.tr
    if context.args:
        await join_with_code(update, context, context.args[0])
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


async def help_command(update: Update, context: BotContext) -> None:
    tr = context.tr
    role = highest_role(context.actor)
    title = tr("What I can do")
    lines = [f"<b>{title}</b>", ""]
    for command in commands_for(role):
        usage = f" {escape(tr(command.usage))}" if command.usage else ""
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
    """Text that is not a command: the help pointer, and to a student a button that sends it
    to the staff as a question (bot/handlers/questions.py, which also reads replies first)."""
    from bot.handlers import questions

    if update.effective_message is not None:
        await questions.point_to_help(
            update, context, questions.content_of(update.effective_message)
        )
