"""The "✋ I'm here" button, shared by the reminder, the nudge and (later) the group's day card.

Its data names the session only (`v1:here:0:<session>`): whoever presses it checks in for
themselves, so one rendering serves every recipient (and a group card). Data bound to a user
(`v1:here:<id>:<session>`) is refused to anyone else.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton

from bot.callbacks import CallbackData
from bot.i18n import Translator

CHECKIN_ACTION = "here"
ABSENT_ACTION = "abs"
ANYONE = 0  # a button any member may press for themselves


def checkin_button(
    session_id: int, tr: Translator, user_id: int = ANYONE, *, label: str = "✋ "
) -> InlineKeyboardButton:
    """`label` goes before the words (the group's card puts the session's time there)."""
    return InlineKeyboardButton(
        label + tr.pgettext("button", "I'm here"),
        callback_data=CallbackData(CHECKIN_ACTION, user_id, str(session_id)).encode(),
    )


def cannot_come_button(
    session_id: int, tr: Translator, user_id: int = ANYONE
) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        "🙁 " + tr.pgettext("button", "I can't come"),
        callback_data=CallbackData(ABSENT_ACTION, user_id, f"s:{session_id}").encode(),
    )
