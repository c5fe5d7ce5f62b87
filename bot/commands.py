"""The command menu: one list that feeds /help and Telegram's setMyCommands."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError

from bot.i18n import LANGUAGES, N_, Catalogs, Translator
from bot.storage.models import Role

log = logging.getLogger(__name__)

EVERYONE = frozenset({None, Role.STUDENT, Role.SUPERVISOR, Role.COORDINATOR})
MEMBERS = frozenset({Role.STUDENT, Role.SUPERVISOR, Role.COORDINATOR})
STAFF = frozenset({Role.SUPERVISOR, Role.COORDINATOR})
SUPERVISORS = frozenset({Role.SUPERVISOR})
COORDINATORS = frozenset({Role.COORDINATOR})
STUDENTS = frozenset({Role.STUDENT})


@dataclass(frozen=True)
class Command:
    name: str
    description: str  # msgid, translated when shown
    audience: frozenset[Role | None]
    usage: str = ""  # msgid of the argument hint shown in /help, translated when shown


# Each role sees only what it can do, with the arguments it would type: a supervisor's /invite
# makes student links to their own group; a coordinator's names any group and either role.
COMMANDS: tuple[Command, ...] = (
    Command("today", N_("Today's sessions"), MEMBERS),
    Command("tomorrow", N_("Tomorrow's sessions"), MEMBERS),
    Command("week", N_("The rest of this week"), MEMBERS),
    Command("next", N_("The next session and how to get there"), MEMBERS),
    Command("contacts", N_("Whom to call: hosts, supervisor, emergency"), MEMBERS),
    Command("reminders", N_("Reminder settings"), MEMBERS),
    Command("calendar", N_("The whole programme for your phone's calendar"), MEMBERS),
    Command("group", N_("Switch between your groups"), MEMBERS),
    Command("ask", N_("Ask the staff a question"), STUDENTS, N_("[your question]")),
    Command("questions", N_("Your questions and their answers"), STUDENTS),
    Command("faq", N_("Frequent questions and their answers"), MEMBERS),
    Command("tasks", N_("Your arrival checklist: what to do by when"), frozenset({Role.STUDENT})),
    Command("tasks", N_("Who has done which task of your group's checklist"), SUPERVISORS,
            N_("[<task id>]")),
    Command("tasks", N_("Who has done which task of a group's checklist"), COORDINATORS,
            N_("<group> [<task id>]")),
    Command("here", N_("Check in: I'm at the session"), STUDENTS),
    Command("absent", N_("Tell your supervisor you will miss a session or be late"),
            STUDENTS, N_("[session #] ill|late [minutes]|other [note]")),
    Command("my_attendance", N_("Your attendance and hours"), STUDENTS),
    Command("language", N_("Change the language"), EVERYONE),
    Command("help", N_("What I can do"), EVERYONE),
    Command("forget_me", N_("Delete my data"), EVERYONE),
    Command("invite", N_("Make an invite link for students of your group"), SUPERVISORS,
            N_("<group> student")),
    Command("invite", N_("Make an invite link for a group"), COORDINATORS,
            N_("<group> <student|supervisor> [--uses N] [--days N]")),
    Command("broadcast", N_("Send an announcement to your group"), SUPERVISORS, N_("<text>")),
    Command("broadcast", N_("Send an announcement to a group or to all"), COORDINATORS,
            N_("<group|all> <text>")),
    Command("acks", N_("Who has confirmed your latest announcement"), STAFF),
    Command("remind_unread", N_("Send it again to those who have not confirmed"), STAFF),
    Command("questions", N_("Open questions of your group, with age and owner"), SUPERVISORS),
    Command("questions", N_("Open questions of a group, with age and owner"), COORDINATORS,
            N_("<group>")),
    Command("feedback", N_("Ratings and comments on your group's sessions"), SUPERVISORS),
    Command("feedback", N_("Ratings and comments on a group's sessions"), COORDINATORS,
            N_("<group>")),
    Command("survey", N_("A group's survey answers as a spreadsheet"), COORDINATORS,
            N_("<group>")),
    Command("roster", N_("Members of your group"), SUPERVISORS),
    Command("roster", N_("Members of a group"), COORDINATORS, N_("<group>")),
    Command("attendance", N_("Who is at the session: the roll-call"), SUPERVISORS,
            N_("[session #]")),
    Command("attendance", N_("Who is at a session: the roll-call"), COORDINATORS,
            N_("[session # | group]")),
    Command("attendance_report", N_("The attendance record as a spreadsheet"), SUPERVISORS),
    Command("attendance_report", N_("A group's attendance record as a spreadsheet"),
            COORDINATORS, N_("<group>")),
    Command("attendance_settings", N_("Check-in rules of a group"), COORDINATORS,
            N_("<group> [opens N] [closes N] [nudge N] [missing N] [location on|off] "
               "[radius N]")),
    Command("cohorts", N_("All groups"), COORDINATORS),
    Command("sessions", N_("Sessions of a group, with their numbers"), COORDINATORS,
            N_("<group> [YYYY-MM-DD | from to]")),
    Command("cancel", N_("Cancel a session"), COORDINATORS, N_("<#> [reason]")),
    Command("move", N_("Move a session"), COORDINATORS, N_("<#> <YYYY-MM-DD> <HH:MM>")),
    Command("restore", N_("Put a cancelled session back on the schedule"), COORDINATORS,
            N_("<#>")),
    Command("room", N_("Change where a session takes place"), COORDINATORS, N_("<#> <place>")),
    Command("export", N_("A group's itinerary and contacts as a spreadsheet"), COORDINATORS,
            N_("<group>")),
    Command("invites", N_("Invite links of a group"), COORDINATORS, N_("<group>")),
    Command("revoke", N_("Withdraw an invite link"), COORDINATORS, N_("<code>")),
    Command("coordinators", N_("Who is a coordinator, and who granted it"), COORDINATORS),
    Command("grant", N_("Make someone a coordinator"), COORDINATORS,
            N_("<user id> coordinator")),
    Command("revoke_role", N_("Take away someone's role"), COORDINATORS,
            N_("<user id> [remove]")),
    Command("audit", N_("The latest changes in a group"), COORDINATORS, N_("<group>")),
    Command("link", N_("In your group chat: link it to your group's programme"), STAFF,
            N_("<group code>")),
    Command("unlink", N_("In your group chat: stop posting there"), STAFF),
    Command("settings", N_("In your group chat: the daily card's time, join requests"), STAFF,
            N_("[card HH:MM|default] [joins on|off]")),
)  # fmt: skip


def commands_for(role: Role | None) -> list[Command]:
    return [c for c in COMMANDS if role in c.audience]


def bot_commands(role: Role | None, tr: Translator) -> list[BotCommand]:
    return [BotCommand(c.name, tr(c.description)[:256]) for c in commands_for(role)]


async def register_default_menus(bot: Bot, catalogs: Catalogs) -> None:
    """The menu Telegram shows before a user joins or chooses, by their app's language."""
    await bot.set_my_commands(
        bot_commands(Role.STUDENT, catalogs.get("en")), scope=BotCommandScopeDefault()
    )
    for lang in LANGUAGES:
        await bot.set_my_commands(
            bot_commands(Role.STUDENT, catalogs.get(lang)),
            scope=BotCommandScopeDefault(),
            language_code=lang,
        )
    await register_group_menus(bot, catalogs)


# What a group chat's menu offers: the plan, the same for every member (bot/handlers/groups.py).
GROUP_MENU = ("today", "tomorrow", "week", "next", "contacts", "help")


def group_commands(tr: Translator) -> list[BotCommand]:
    return [
        BotCommand(c.name, tr(c.description)[:256])
        for c in COMMANDS
        if c.name in GROUP_MENU and Role.STUDENT in c.audience
    ]


async def register_group_menus(bot: Bot, catalogs: Catalogs) -> None:
    """Group chats' menu, by the app's language of whoever opens it."""
    scope = BotCommandScopeAllGroupChats()
    await bot.set_my_commands(group_commands(catalogs.get("en")), scope=scope)
    for lang in LANGUAGES:
        await bot.set_my_commands(group_commands(catalogs.get(lang)), scope=scope,
                                  language_code=lang)  # fmt: skip


async def register_user_menu(bot: Bot, chat_id: int, role: Role | None, tr: Translator) -> None:
    """The menu follows the Telegram app's language, so a choice made in the bot needs its own."""
    try:
        await bot.set_my_commands(bot_commands(role, tr), scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:  # a menu is a convenience; never fail the update for it
        log.warning("could not set the command menu for a chat: %s", exc)
