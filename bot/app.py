"""Builds the Application: the one place where handlers are registered, in order."""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatJoinRequestHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.callbacks import pattern
from bot.clock import Clock
from bot.commands import register_default_menus
from bot.concurrency import PerUserOrder
from bot.config import Settings
from bot.context import SERVICES_KEY, BotContext
from bot.handlers import (
    attendance,
    contacts,
    editing,
    feedback,
    files,
    groups,
    invites,
    itinerary,
    joining,
    language,
    people,
    privacy,
    questions,
    reminders,
    staff,
    start,
    tasks,
)
from bot.handlers.common import load_user
from bot.handlers.errors import ErrorReporter, alert_soon
from bot.handlers.throttle import Throttle
from bot.i18n import Catalogs
from bot.ratelimit import PriorityRateLimiter
from bot.services import Services
from bot.services.broadcasts import ACK_ACTION
from bot.services.checkin import ABSENT_ACTION, CHECKIN_ACTION
from bot.services.feedback import FEEDBACK_ACTION, SURVEY_ACTION
from bot.services.tasks import TASK_ACTION
from bot.storage import Database, Storage
from bot.webapp import WEBAPP_KEY, set_menu_button

log = logging.getLogger(__name__)

CONNECTIONS = 8
POOL_TIMEOUT = 30.0  # seconds a request may wait for a free connection in a burst


class GatedRequest(HTTPXRequest):
    """At most `connection_pool_size` requests at a time reach httpx; the rest wait here.

    httpcore's pool goes over its whole queue of waiting requests each time one starts or
    ends: with a hundred answers in flight that is quadratic. Waiting on a semaphore is not.
    """

    def __init__(self, connection_pool_size: int, **kwargs: Any) -> None:
        super().__init__(connection_pool_size=connection_pool_size, **kwargs)
        self._gate = asyncio.Semaphore(connection_pool_size)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        async with self._gate:
            return await super().do_request(*args, **kwargs)


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every HTTP client of the process: loading the system's
    certificates takes ~50 ms, and httpx would do it for each client (two per Application)."""
    return ssl.create_default_context()


def check_timezone_data() -> None:
    """Fails loudly on stale zone data, which would show every Almaty time an hour late."""
    offset = datetime(2026, 6, 1, 12, tzinfo=ZoneInfo("Asia/Almaty")).utcoffset()
    if offset is None or offset.total_seconds() != 5 * 3600:
        raise RuntimeError(f"stale time-zone data: Asia/Almaty is {offset}, expected UTC+5")


def build_application(
    settings: Settings, *, clock: Clock | None = None, catalogs: Catalogs | None = None
) -> Application:
    """The exact Application production runs; tests and the playground build it here too."""
    check_timezone_data()
    clock = clock or Clock()
    catalogs = catalogs or Catalogs()

    async def post_init(app: Application) -> None:
        db = Database(settings.database)
        await db.open()
        storage = Storage(db)
        # BOT_COORDINATORS is the truth for the people it names: added and removed here.
        await storage.users.sync_env_coordinators(settings.coordinators, clock.now())
        db.on_bad_row = lambda what, detail: alert_soon(app, "unreadable row", f"{what}: {detail}")
        assert app.job_queue is not None
        services = Services.build(settings, clock, storage, catalogs, app.bot, app.job_queue)
        app.bot_data[SERVICES_KEY] = services
        await register_default_menus(app.bot, catalogs)
        await services.attendance.load_settings()  # before the queue plans the nudges
        jobs = await services.reminders.reconcile()
        log.info("scheduled %d reminder and digest jobs", jobs)
        await services.broadcasts.resume()
        services.presence.start()
        if settings.webapp_url:
            from bot.webapp.server import WebApp  # aiohttp's web server: only when it is used

            webapp = WebApp(services, app.bot)
            await webapp.start()
            app.bot_data[WEBAPP_KEY] = webapp
            await set_menu_button(app.bot, settings.webapp_url, catalogs)
        log.info("bot @%s ready, database %s", app.bot.username, settings.database)

    async def post_stop(app: Application) -> None:
        # The bot's HTTP client still works here: the batch in flight finishes, the rest of
        # the outbox stays pending in SQLite for the next start.
        services: Services | None = app.bot_data.get(SERVICES_KEY)
        if services is not None:
            await services.broadcasts.stop()
            await services.presence.stop()

    async def post_shutdown(app: Application) -> None:
        webapp = app.bot_data.pop(WEBAPP_KEY, None)
        if webapp is not None:
            await webapp.stop()
        services: Services | None = app.bot_data.pop(SERVICES_KEY, None)
        if services is not None:
            await services.broadcasts.stop()
            await services.presence.stop()
            await services.storage.db.close()

    builder = (
        Application.builder()
        .token(settings.token)
        .base_url(settings.base_url)
        .base_file_url(settings.base_file_url)
        .context_types(ContextTypes(context=BotContext))
        # People's updates run side by side; each person's in the order they sent them.
        .concurrent_updates(PerUserOrder())
        .request(
            # httpx looks over every pooled connection for each request: a few, kept busy,
            # serve concurrent answers faster than hundreds (the limiter allows ~30 a second).
            GatedRequest(
                connection_pool_size=CONNECTIONS,
                pool_timeout=POOL_TIMEOUT,
                httpx_kwargs={"verify": tls_context()},
            )
        )
        .get_updates_request(
            HTTPXRequest(connection_pool_size=1, httpx_kwargs={"verify": tls_context()})
        )
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
    )
    if settings.messages_per_second > 0:
        # Telegram allows about 30 messages a second per bot. A bucket of 30 would let a burst
        # of 30 go at once and then 30 more within the same second; one token every
        # 1/29.5 s keeps any one-second window under the limit, so floods meet no 429. The
        # token goes to the most urgent request waiting: people first, then timed messages,
        # then broadcasts (bot/ratelimit.py).
        builder.rate_limiter(PriorityRateLimiter(settings.messages_per_second, max_retries=3))
    app = builder.build()
    register_handlers(app, settings)
    return app


def register_handlers(app: Application, settings: Settings) -> None:
    # Group -2 drops floods from one user before any work is done for them.
    throttle = Throttle(settings.throttle_burst, settings.throttle_seconds)
    app.add_handler(TypeHandler(Update, throttle), group=-2)
    # Group -1 runs next for every update: it loads the user, language and permissions that
    # every later handler reads from the context.
    app.add_handler(TypeHandler(Update, load_user), group=-1)

    # Group 0: the first matching handler answers. Commands, then buttons, then the fallbacks
    # for unknown commands and plain text, which must stay last.
    # New messages only: an edited message must not run its command a second time.
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    for name, callback in (
        ("start", start.start),
        ("help", start.help_command),
        ("today", itinerary.today),
        ("tomorrow", itinerary.tomorrow),
        ("week", itinerary.week),
        ("next", itinerary.next_session),
        ("contacts", contacts.contacts),
        ("language", language.language),
        ("reminders", reminders.reminders),
        ("calendar", reminders.calendar),
        ("invite", invites.invite),
        ("broadcast", staff.broadcast),
        ("acks", staff.acks),
        ("remind_unread", staff.remind_unread),
        ("cohorts", editing.cohorts),
        ("sessions", editing.sessions),
        ("cancel", editing.cancel_session),
        ("move", editing.move_session),
        ("restore", editing.restore_session),
        ("room", editing.room),
        ("roster", people.roster),
        ("invites", people.invites_list),
        ("revoke", people.revoke_invite),
        ("grant", people.grant),
        ("revoke_role", people.revoke_role),
        ("coordinators", people.coordinators),
        ("group", joining.switch_group),
        ("audit", editing.audit),
        ("export", files.export),
        ("forget_me", privacy.forget_me),
        ("ask", questions.ask),
        ("questions", questions.questions_command),
        ("faq", questions.faq_command),
        ("feedback", feedback.feedback_command),
        ("survey", feedback.survey_command),
        ("tasks", tasks.tasks),
        ("here", attendance.here),
        ("absent", attendance.absent),
        ("attendance", attendance.attendance),
        ("my_attendance", attendance.my_attendance),
        ("attendance_report", attendance.attendance_report),
        ("attendance_settings", attendance.attendance_settings),
        ("link", groups.private_hint),
        ("unlink", groups.private_hint),
        ("settings", groups.private_hint),
    ):
        app.add_handler(CommandHandler(name, callback, filters=private))
    register_group_handlers(app)
    # A spreadsheet sent with the caption /import (any case): validated and previewed, saved on
    # Confirm. block=False: while a workbook is read in a worker thread, other people's
    # updates are answered instead of waiting in line behind it.
    app.add_handler(
        MessageHandler(
            private & filters.Document.ALL & filters.CaptionRegex(r"(?i)^/import(@\w+)?(\s|$)"),
            files.import_document,
            block=False,
        )
    )
    app.add_handler(
        CallbackQueryHandler(language.language_chosen, pattern=pattern(language.LANGUAGE_ACTION))
    )
    app.add_handler(
        CallbackQueryHandler(
            reminders.reminders_pressed, pattern=pattern(reminders.REMINDERS_ACTION)
        )
    )
    for action, callback in (
        (joining.JOIN_ACTION, joining.join_pressed),
        (joining.GROUP_ACTION, joining.group_pressed),
        (people.ROLE_ACTION, people.role_pressed),
        (staff.BROADCAST_ACTION, staff.broadcast_pressed),
        (ACK_ACTION, staff.got_it),
        (files.IMPORT_ACTION, files.import_pressed),
        (privacy.FORGET_ACTION, privacy.forget_pressed),
        (questions.QUESTION_ACTION, questions.question_pressed),
        (FEEDBACK_ACTION, feedback.feedback_pressed),
        (SURVEY_ACTION, feedback.survey_pressed),
        (TASK_ACTION, tasks.task_pressed),
        (CHECKIN_ACTION, attendance.here_pressed),
        (ABSENT_ACTION, attendance.absent_pressed),
        (attendance.ROLL_ACTION, attendance.roll_pressed),
        (groups.GROUP_ACK_ACTION, groups.group_got_it),
        (groups.GROUP_LANGUAGE_ACTION, groups.group_language_chosen),
        (groups.JOIN_ACTION, groups.join_decided),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern(action)))
    # A location shared for a check-in (checked, never stored).
    app.add_handler(MessageHandler(private & filters.LOCATION, attendance.location_received))
    app.add_handler(MessageHandler(private & filters.COMMAND, start.unknown_command))
    # Messages that are not commands: replies in a question's thread, a proof a task waits for
    # (/tasks), the message a pending step waits for (/ask, Answer, a comment), else the help
    # pointer with "Send as a question". One entry point, so one message gets one answer.
    app.add_handler(
        MessageHandler(
            private & (filters.TEXT | filters.PHOTO | filters.Document.ALL | filters.Sticker.ALL),
            questions.incoming,
        )
    )
    app.add_handler(MessageHandler(private & filters.TEXT, start.plain_text))
    app.add_error_handler(ErrorReporter())


def register_group_handlers(app: Application) -> None:
    """Group chats (bot/handlers/groups.py): the plan for everyone, the group's settings for
    its staff, a pointer to the private chat for any other command of this bot (another bot's
    `/x@otherbot` and plain talk reach nothing), and the group's lifecycle."""
    in_group = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE
    app.add_handler(
        CommandHandler(
            ["today", "tomorrow", "week", "next", "contacts", "help"],
            groups.plan_command,
            filters=in_group,
        )
    )
    for name, callback in (
        ("link", groups.link),
        ("unlink", groups.unlink),
        ("settings", groups.settings),
        ("language", groups.group_language),
        ("start", groups.start_in_group),
    ):
        app.add_handler(CommandHandler(name, callback, filters=in_group))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, groups.migrated))
    app.add_handler(MessageHandler(in_group & filters.COMMAND, groups.other_command))
    app.add_handler(ChatMemberHandler(groups.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(ChatJoinRequestHandler(groups.join_request))


async def start_polling(app: Application, *, poll_timeout: int = 10) -> None:
    """What run_polling does, without owning the event loop (tests, the playground)."""
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=poll_timeout)


async def stop_polling(app: Application) -> None:
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
        if app.post_stop is not None:
            await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)
