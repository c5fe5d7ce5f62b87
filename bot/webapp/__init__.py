"""The Telegram Mini App: a week view for members and a console for staff (see server.py)."""

from __future__ import annotations

import logging

from telegram import Bot, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError

from bot.i18n import Catalogs

WEBAPP_KEY = "webapp"

log = logging.getLogger(__name__)


async def set_menu_button(bot: Bot, url: str, catalogs: Catalogs) -> None:
    """The button left of the message field opens the Mini App in every private chat."""
    label = catalogs.get("en").pgettext("button", "Timetable")
    try:
        await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(label, WebAppInfo(url)))
    except TelegramError as exc:  # a convenience: never stop the bot for it
        log.warning("could not set the Mini App menu button: %s", exc)
