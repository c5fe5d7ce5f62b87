"""Mobility Bot: a Telegram assistant for students on academic mobility programmes."""

import os
import zoneinfo

# Use the tzdata package, never the system's zone files: old system files still put
# Asia/Almaty at UTC+6, while it has been UTC+5 since 2024-03-01.
zoneinfo.reset_tzpath(to=[])

# python-telegram-bot 22 reports retry_after as a timedelta when this is set, and emits a
# deprecation warning on every 429 otherwise.
os.environ.setdefault("PTB_TIMEDELTA", "true")

__version__ = "0.1.0"
