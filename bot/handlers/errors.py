"""The application's error handler: log with the update, apologise, alert coordinators."""

from __future__ import annotations

import asyncio
import logging
import time

from telegram import Update
from telegram.error import Forbidden, NetworkError
from telegram.ext import Application

from bot.context import SERVICES_KEY, BotContext
from bot.i18n import choose_language
from bot.logs import redact

log = logging.getLogger("bot.errors")

ALERT_EVERY_SECONDS = 600


def describe(update: object) -> str:
    """Enough to find the cause, without message texts or names (personal data)."""
    if not isinstance(update, Update):
        return repr(type(update).__name__)
    parts = [f"update {update.update_id}"]
    if update.effective_user:
        parts.append(f"user {update.effective_user.id}")
    message = update.effective_message
    if message is not None and message.text and message.text.startswith("/"):
        parts.append(f"command {message.text.split()[0][:32]}")
    elif update.callback_query is not None:
        parts.append(f"button {str(update.callback_query.data)[:24]}")
    return ", ".join(parts)


class ErrorReporter:
    def __init__(self) -> None:
        self._last_alert: dict[str, float] = {}

    async def __call__(self, update: object, context: BotContext) -> None:
        error = context.error
        log.error("error while handling %s", describe(update), exc_info=error)
        if isinstance(error, Forbidden | NetworkError) and not isinstance(update, Update):
            return  # a send from a job failed; the delivery records say so
        services = context.application.bot_data.get(SERVICES_KEY)
        if services is None:
            return
        try:
            await services.storage.operations.record_error(
                services.clock.now(),
                type(error).__name__,
                redact(f"{describe(update)}: {error}")[:300],
            )
        except Exception:
            log.warning("could not record the error in the database")
        if isinstance(update, Update) and update.effective_chat is not None:
            user = update.effective_user
            tr = services.catalogs.get(
                choose_language(
                    context.user.language if context.user else None,
                    user.language_code if user else None,
                )
            )
            try:
                await context.bot.send_message(
                    update.effective_chat.id,
                    tr("Sorry, something went wrong on my side. Please try again in a minute."),
                )
            except Exception:  # the apology is best effort
                log.warning("could not apologise for an error")
        await self._alert(context, error)

    async def _alert(self, context: BotContext, error: BaseException | None) -> None:
        kind = type(error).__name__ if error else "Error"
        now = time.monotonic()
        last = self._last_alert.get(kind)
        if last is not None and now - last < ALERT_EVERY_SECONDS:
            return
        self._last_alert[kind] = now
        await alert_coordinators(context.application, kind, str(error), muted=True)


async def alert_coordinators(
    app: Application, kind: str, detail: str, *, muted: bool = False
) -> None:
    """Tells every coordinator named in BOT_COORDINATORS, each in their language."""
    services = app.bot_data.get(SERVICES_KEY)
    if services is None:
        return
    for coordinator in sorted(services.settings.coordinators):
        user = await services.storage.users.get(coordinator)
        tr = services.catalogs.get(
            choose_language(user.language, user.telegram_language) if user else None
        )
        if muted:
            text = tr(
                "The bot hit an error: {kind}: {error}. Details are in the log; more "
                "alerts of this kind are muted for 10 minutes."
            )
        else:
            text = tr("The bot hit a problem: {kind}: {error}. Details are in the log.")
        try:
            await app.bot.send_message(
                coordinator, "⚠️ " + text.format(kind=kind, error=redact(detail)[:200])
            )
        except Exception:
            log.warning("could not alert coordinator %s", coordinator)


_pending_alerts: set[asyncio.Task[None]] = set()


def alert_soon(app: Application, kind: str, detail: str) -> None:
    """From synchronous code (a row the storage could not read): alert without waiting."""
    try:
        task = asyncio.get_running_loop().create_task(alert_coordinators(app, kind, detail))
    except RuntimeError:  # no running loop (a command-line tool): the log has it
        return
    _pending_alerts.add(task)
    task.add_done_callback(_pending_alerts.discard)
