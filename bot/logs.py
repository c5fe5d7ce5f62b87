"""Keeps the bot token off the terminal: log lines, print(), tracebacks, everything.

Two layers: a logging filter rewrites each record, and `protect_terminal` wraps stdout and
stderr so that whatever reaches them (a print of an exception, an uncaught traceback, a
library writing directly) passes through the same redaction.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO
from urllib.parse import quote

# A Bot API token: the bot id, a colon, then 30-odd URL-safe characters. Also matched when the
# colon is percent-encoded, as it is in file download URLs.
_TOKEN_RE = re.compile(r"\d{5,}(?::|%3A)[A-Za-z0-9_-]{20,}", re.IGNORECASE)
SECRET_MARK = "<secret>"
_MIN_SECRET_PART = 8  # the part after the colon alone is secret too, when it is this long


def redact(text: str) -> str:
    return _TOKEN_RE.sub("<token>", text)


def secret_forms(*secrets: str) -> list[str]:
    """Every spelling of the given secrets that could appear: as given, percent-encoded, and
    (for a token) its secret half; longest first so a longer form is replaced whole."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < _MIN_SECRET_PART:
            continue  # too short to be a real token; replacing it everywhere would garble text
        forms.update({secret, quote(secret, safe=""), quote(secret, safe="").lower()})
        _, colon, tail = secret.partition(":")
        if colon and len(tail) >= _MIN_SECRET_PART:
            forms.add(tail)
    return sorted(forms, key=len, reverse=True)


def scrub(text: str, forms: list[str]) -> str:
    """`redact` plus the configured secrets, in every spelling from `secret_forms`."""
    for form in forms:
        text = text.replace(form, SECRET_MARK)
    return redact(text)


class RedactTokenFilter(logging.Filter):
    """Rewrites the record's final message so formatted arguments cannot leak the token."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self._forms = secret_forms(*secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self._forms)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self._forms)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self._forms)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class RedactingStream:
    """A text stream that redacts whole lines before they reach the wrapped stream.

    Text is held until its line is complete (a token never spans a newline), so a token
    written in pieces is still caught; `flush` lets a prompt without a newline through.
    """

    def __init__(self, stream: TextIO, *secrets: str) -> None:
        self._stream = stream
        self._forms = secret_forms(*secrets)
        self._pending = ""

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def add_secrets(self, *secrets: str) -> None:
        self._forms = secret_forms(*secrets, *self._forms)

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self._stream.write(scrub(complete + "\n", self._forms))
            if getattr(self._stream, "line_buffering", False):
                self._stream.flush()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(scrub(self._pending, self._forms))
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        # encoding, errors, fileno... as the wrapped stream has them. Not `buffer`: bytes
        # written there would pass unredacted.
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self._stream, name)


def protect_terminal(*secrets: str) -> None:
    """Routes stdout and stderr through redaction (idempotent; later calls add secrets).

    Uncaught tracebacks are written to sys.stderr by the default excepthook, so they pass
    through the wrapper too.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            continue
        if isinstance(stream, RedactingStream):
            stream.add_secrets(*secrets)
        else:
            setattr(sys, name, RedactingStream(stream, *secrets))


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
