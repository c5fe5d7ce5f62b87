"""Plain data records the emulator exposes to tests and to the terminal playground."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SentMessage:
    """One message the bot successfully sent or edited, as seen on the wire.

    Tests assert on these instead of on Telegram objects because they reflect exactly what the
    bot asked Telegram to show: ``text`` is the raw string the bot sent (markup included), while
    ``plain_text`` is what the user would actually read once Telegram rendered the markup.
    """

    method: str
    chat_id: int
    message_id: int
    text: str | None
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    document: bytes | None = None
    filename: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    plain_text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)

    def buttons(self) -> list[tuple[str, str]]:
        """Flatten an inline keyboard into ``(text, callback_data or url)`` pairs, row by row.

        Buttons of other kinds (e.g. ``switch_inline_query``) yield an empty second element so
        the button still shows up in assertions about what the user can see.
        """
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        flat: list[tuple[str, str]] = []
        for row in rows:
            for button in row:
                action = button.get("callback_data", button.get("url", ""))
                flat.append((str(button.get("text", "")), str(action)))
        return flat

    def keyboard_buttons(self) -> list[str]:
        """Flatten a reply (custom) keyboard into the button labels the user can tap."""
        rows = (self.reply_markup or {}).get("keyboard") or []
        return [b if isinstance(b, str) else str(b.get("text", "")) for row in rows for b in row]

    def describe(self) -> str:
        """A one-line human summary, used in timeout errors and transcripts."""
        body = self.plain_text if self.plain_text is not None else self.text
        if body is None and self.latitude is not None:
            body = f"<location {self.latitude}, {self.longitude}>"
        if self.filename is not None:
            body = f"[{self.filename}] {body or ''}".rstrip()
        summary = f"{self.method} -> chat {self.chat_id} #{self.message_id}: {body!r}"
        if self.buttons():
            summary += f" buttons={self.buttons()}"
        return summary
