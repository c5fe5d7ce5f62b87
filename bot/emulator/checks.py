"""Validation Telegram applies to keyboards and command lists.

These limits are easy to break unnoticed (a 65-byte callback_data, an upper-case command name,
a button without an action) and Telegram rejects the whole request when they are, so the
emulator enforces them to surface such bugs in tests.
"""

from __future__ import annotations

import re
from typing import Any

from bot.emulator.params import bad_request

MAX_CALLBACK_DATA_BYTES = 64
MAX_COMMANDS = 100
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_CODE_RE = re.compile(r"[a-z]{2}")
_URL_SCHEMES = ("http://", "https://", "tg://")
_INLINE_ACTIONS = frozenset(
    {
        "callback_data",
        "url",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "callback_game",
        "pay",
        "web_app",
        "copy_text",
    }
)
COMMAND_SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)


def validate_reply_markup(markup: Any) -> None:
    """Reject reply markup Telegram would refuse to parse."""
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        for button in _rows_of_buttons(markup["inline_keyboard"], "inline keyboard"):
            _validate_inline_button(button)
    elif "keyboard" in markup:
        for button in _rows_of_buttons(markup["keyboard"], "keyboard"):
            text = button if isinstance(button, str) else button.get("text")
            if not isinstance(text, str) or not text:
                raise bad_request("can't parse keyboard button: Text is empty")
    elif not {"remove_keyboard", "force_reply"} & markup.keys():
        raise bad_request("can't parse reply keyboard markup JSON object")


def _rows_of_buttons(rows: Any, kind: str) -> list[Any]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f"{kind} must be an array of arrays")
    buttons = [button for row in rows for button in row]
    for button in buttons:
        if not isinstance(button, dict | str):
            raise bad_request(f"can't parse {kind} button: Object expected")
    return buttons


def _validate_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise bad_request("can't parse inline keyboard button: Text is empty")
    if not _INLINE_ACTIONS & button.keys():
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url.lower().startswith(_URL_SCHEMES):
            raise bad_request(f"inline keyboard button URL {url!r} is invalid: Wrong HTTP URL")
    if "web_app" in button:
        validate_web_app(button["web_app"])


# Telegram opens Mini Apps over HTTPS only; its test environment also takes plain HTTP, as the
# emulator does for loopback addresses (tests and the playground).
_WEB_APP_URL = re.compile(r"^(https://[^\s/]+|http://(127\.0\.0\.1|localhost)(:\d+)?)(/\S*)?$")


def validate_web_app(web_app: Any) -> None:
    if not isinstance(web_app, dict) or not isinstance(web_app.get("url"), str):
        raise bad_request("can't parse WebAppInfo: Object expected")
    if not _WEB_APP_URL.match(web_app["url"]):
        raise bad_request("BUTTON_URL_INVALID")


def validate_menu_button(button: Any) -> dict[str, Any]:
    """setChatMenuButton: commands, default, or a web_app with a text and an HTTPS address."""
    if not isinstance(button, dict) or button.get("type") not in (
        "commands",
        "default",
        "web_app",
    ):
        raise bad_request("can't parse menu button: unsupported type")
    if button["type"] == "web_app":
        text = button.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 64:
            raise bad_request("can't parse menu button: text is empty or too long")
        validate_web_app(button.get("web_app"))
    return button


def validate_commands(commands: Any) -> list[dict[str, str]]:
    """Check a setMyCommands list and return it normalised to ``{command, description}``."""
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    normalised = []
    for entry in commands:
        if not isinstance(entry, dict):
            raise bad_request("can't parse BotCommand: Object expected")
        command = str(entry.get("command", "")).removeprefix("/")
        description = str(entry.get("description", ""))
        if not _COMMAND_RE.fullmatch(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        normalised.append({"command": command, "description": description})
    return normalised


def validate_language_code(language_code: str | None) -> str | None:
    """Command lists are keyed by a two-letter ISO 639-1 code, or none for the fallback."""
    if language_code in (None, ""):
        return None
    if not isinstance(language_code, str) or not _LANGUAGE_CODE_RE.fullmatch(language_code):
        raise bad_request(f"invalid language code {language_code!r} specified")
    return language_code
