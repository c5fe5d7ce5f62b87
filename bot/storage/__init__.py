"""Storage layer: the only place that knows SQL."""

from bot.storage.db import Database
from bot.storage.repositories import Storage

__all__ = ["Database", "Storage"]
