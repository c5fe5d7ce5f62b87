"""Settings read from the environment, once, at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from bot.parsing import is_number

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_BASE_FILE_URL = "https://api.telegram.org/file/bot"
DEFAULT_DATABASE = "data/mobility.sqlite3"
DEFAULT_WEBAPP_LISTEN = ("127.0.0.1", 8080)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    token: str = ""
    base_url: str = DEFAULT_BASE_URL
    base_file_url: str = DEFAULT_BASE_FILE_URL
    database: Path = Path(DEFAULT_DATABASE)
    coordinators: frozenset[int] = field(default_factory=frozenset)
    reminder_minutes: tuple[int, ...] = (30,)
    invite_days: int = 14
    webhook_secret: str = ""
    messages_per_second: float = 29.5  # Telegram allows about 30; 0 turns the limiter off
    # Per-user throttle: a burst of this many updates, refilled over this many seconds.
    throttle_burst: int = 15
    throttle_seconds: float = 10.0
    # The Mini App: its public HTTPS address (served only when set) and where the bot listens
    # for it behind the reverse proxy. `webapp_shim` serves a local stand-in for Telegram's
    # telegram-web-app.js (tests and the playground run without network).
    webapp_url: str = ""
    webapp_listen: tuple[str, int] = DEFAULT_WEBAPP_LISTEN
    webapp_shim: bool = False
    # An unowned question goes to the coordinators after this many daytime minutes.
    escalation_minutes: int = 120
    day_card_time: time = time(7, 30)  # cohort-local; a group's /settings may override it

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
            base_url=env.get("TELEGRAM_BASE_URL", "").strip() or DEFAULT_BASE_URL,
            base_file_url=env.get("TELEGRAM_BASE_FILE_URL", "").strip() or DEFAULT_BASE_FILE_URL,
            database=Path(env.get("BOT_DATABASE", "").strip() or DEFAULT_DATABASE),
            coordinators=parse_user_ids(env.get("BOT_COORDINATORS", "")),
            reminder_minutes=parse_minutes(env.get("BOT_REMINDER_MINUTES", "")),
            webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", "").strip(),
            messages_per_second=parse_rate(env.get("BOT_MAX_MESSAGES_PER_SECOND", "")),
            webapp_url=parse_webapp_url(env.get("BOT_WEBAPP_URL", "")),
            webapp_listen=parse_listen(env.get("BOT_WEBAPP_LISTEN", "")),
            escalation_minutes=parse_escalation(env.get("BOT_ESCALATION_MINUTES", "")),
            day_card_time=parse_clock_time(env.get("BOT_DAY_CARD_TIME", ""), "BOT_DAY_CARD_TIME"),
        )


def parse_user_ids(raw: str) -> frozenset[int]:
    ids = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not is_number(part.removeprefix("-")):
            raise ConfigError(
                f"BOT_COORDINATORS must be comma-separated Telegram user ids, got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def parse_minutes(raw: str) -> tuple[int, ...]:
    if not raw.strip():
        return (30,)
    leads = set()
    for part in raw.split(","):
        part = part.strip()
        if not is_number(part) or not 1 <= int(part) <= 7 * 24 * 60:
            raise ConfigError(
                "BOT_REMINDER_MINUTES must be minutes between 1 and 10080, "
                f"comma-separated (e.g. 60,15), got {part!r}"
            )
        leads.add(int(part))
    return tuple(sorted(leads, reverse=True))


def parse_rate(raw: str) -> float:
    if not raw.strip():
        return 29.5
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1000:
        raise ConfigError(
            f"BOT_MAX_MESSAGES_PER_SECOND must be a number from 0 (no limit) to 1000, got {raw!r}"
        )
    return value


_LOOPBACK_URL = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/.*)?$")


def parse_webapp_url(raw: str) -> str:
    """Telegram opens Mini Apps over HTTPS only; plain HTTP is accepted on loopback (a local
    try-out in a browser)."""
    url = raw.strip()
    if not url:
        return ""
    if not (url.startswith("https://") and len(url) > len("https://")) and not (
        _LOOPBACK_URL.match(url)
    ):
        raise ConfigError(f"BOT_WEBAPP_URL must be the Mini App's https:// address, got {url!r}")
    return url


def parse_listen(raw: str) -> tuple[str, int]:
    text = raw.strip()
    if not text:
        return DEFAULT_WEBAPP_LISTEN
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not is_number(port) or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"BOT_WEBAPP_LISTEN must be HOST:PORT, e.g. 127.0.0.1:8080, got {text!r}"
        )
    return host, int(port)


def parse_escalation(raw: str) -> int:
    if not raw.strip():
        return 120
    part = raw.strip()
    if not is_number(part) or not 1 <= int(part) <= 7 * 24 * 60:
        raise ConfigError(
            f"BOT_ESCALATION_MINUTES must be minutes between 1 and 10080, got {raw!r}"
        )
    return int(part)


def parse_clock_time(raw: str, name: str) -> time:
    """HH:MM (24 h); empty means 07:30."""
    text = raw.strip()
    if not text:
        return time(7, 30)
    hours, _, minutes = text.partition(":")
    if (
        is_number(hours)
        and is_number(minutes)
        and len(minutes) == 2
        and int(hours) < 24
        and int(minutes) < 60
    ):
        return time(int(hours), int(minutes))
    raise ConfigError(f"{name} must be a time of day as HH:MM (e.g. 07:30), got {raw!r}")
