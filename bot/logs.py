"""Logging set-up that never lets the bot token reach a log line."""

from __future__ import annotations

import logging
import re

# A Bot API token: the bot id, a colon, then 30-odd URL-safe characters. Also matched when the
# colon is percent-encoded, as it is in file download URLs.
_TOKEN_RE = re.compile(r"\d{5,}(?::|%3A)[A-Za-z0-9_-]{20,}")


def redact(text: str) -> str:
    return _TOKEN_RE.sub("<token>", text)


class RedactTokenFilter(logging.Filter):
    """Rewrites the record's final message so formatted arguments cannot leak the token."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        for secret in self._secrets:
            clean = clean.replace(secret, "<secret>")
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            exc_text = redact(record.exc_text)
            for secret in self._secrets:
                exc_text = exc_text.replace(secret, "<secret>")
            record.exc_text = exc_text
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(*secrets: str, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(h, "_mobility", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._mobility = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for handler in root.handlers:
        handler.filters = [f for f in handler.filters if not isinstance(f, RedactTokenFilter)]
        handler.addFilter(RedactTokenFilter(*secrets))
    # httpx logs every request URL (which contains the token) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
