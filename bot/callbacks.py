"""callback_data for inline buttons: short, versioned, and bound to the user it was shown to.

Format: "v1:<action>:<user id>:<argument>", at most 64 bytes (Telegram counts bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.parsing import is_number

VERSION = "v1"
MAX_BYTES = 64


@dataclass(frozen=True)
class CallbackData:
    action: str
    user_id: int
    arg: str = ""

    def encode(self) -> str:
        text = f"{VERSION}:{self.action}:{self.user_id}:{self.arg}"
        if len(text.encode()) > MAX_BYTES:
            raise ValueError(f"callback data over {MAX_BYTES} bytes: {text!r}")
        return text

    @classmethod
    def decode(cls, raw: str | None) -> CallbackData | None:
        """None for anything that is not well-formed current data (old or forged buttons)."""
        if not raw or len(raw.encode()) > MAX_BYTES:
            return None
        parts = raw.split(":", 3)
        if len(parts) != 4 or parts[0] != VERSION or not parts[1]:
            return None
        if not is_number(parts[2]):
            return None
        return cls(parts[1], int(parts[2]), parts[3])


def pattern(action: str) -> str:
    """A regex for CallbackQueryHandler that routes by action, never by button text."""
    return rf"^{VERSION}:{action}:"
