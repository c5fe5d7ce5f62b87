"""A Telegram Bot API emulator for end-to-end tests and the terminal playground.

Point python-telegram-bot at it with ``base_url=emulator.base_url`` and
``base_file_url=emulator.base_file_url``; see :mod:`bot.emulator.server` for the behaviour.
"""

from bot.emulator.models import SentMessage
from bot.emulator.server import BotApiEmulator, StoredFile

__all__ = ["BotApiEmulator", "SentMessage", "StoredFile"]
