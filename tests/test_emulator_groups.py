"""The emulator's group side, through python-telegram-bot's own Bot: the shapes of updates and
Telegram's error texts a bot meets in groups."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from bot.emulator import BotApiEmulator
from bot.emulator.groups import GROUP_ANONYMOUS_BOT

ADMIN = 7001


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    emulator.add_user(ADMIN, "Admin")
    async with Bot(emulator.token, base_url=emulator.base_url) as client:
        yield client


async def updates(bot: Bot) -> list[Update]:
    got = await bot.get_updates(timeout=0)
    if got:
        await bot.get_updates(offset=got[-1].update_id + 1, timeout=0)
    return list(got)


async def test_added_promoted_removed_arrive_as_my_chat_member(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    chat_id = emulator.add_group("Group", members=(ADMIN,))
    with pytest.raises(Forbidden, match=r"(?i)bot is not a member of the group chat"):
        await bot.send_message(chat_id, "before")
    emulator.add_bot_to_group(chat_id, ADMIN)
    emulator.set_bot_rights(chat_id, ADMIN, admin=True, can_pin=True)
    emulator.remove_bot_from_group(chat_id, ADMIN)
    changes = [u.my_chat_member for u in await updates(bot)]
    assert [(c.old_chat_member.status, c.new_chat_member.status) for c in changes if c] == [
        ("left", "member"), ("member", "administrator"), ("administrator", "kicked"),
    ]  # fmt: skip
    assert changes[1] is not None and changes[1].new_chat_member.can_pin_messages is True
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the group chat"):
        await bot.send_message(chat_id, "after")


async def test_pins_need_the_right_and_commands_come_with_at_bot(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    chat_id = emulator.add_group("Group", members=(ADMIN,))
    emulator.add_bot_to_group(chat_id, ADMIN)
    message = await bot.send_message(chat_id, "card")
    with pytest.raises(BadRequest, match=r"(?i)not enough rights to manage pinned messages"):
        await bot.pin_chat_message(chat_id, message.message_id)
    emulator.set_bot_rights(chat_id, ADMIN, admin=True, can_pin=True)
    assert await bot.pin_chat_message(chat_id, message.message_id, disable_notification=True)
    assert emulator.pinned_message(chat_id) == message.message_id
    assert await bot.unpin_chat_message(chat_id, message.message_id)
    assert emulator.pinned_message(chat_id) is None
    edited = await bot.edit_message_text("card, edited", chat_id, message.message_id)
    assert edited.text == "card, edited"  # type: ignore[union-attr]
    await emulator.send_group_text(chat_id, ADMIN, "/today@mobility_test_bot")
    await emulator.send_group_text(chat_id, ADMIN, "/link X", anonymous=True)
    got = [u.message for u in await updates(bot) if u.message]
    assert got[0].text == "/today@mobility_test_bot" and got[0].entities[0].length == 24
    assert got[1].sender_chat is not None and got[1].sender_chat.id == chat_id
    assert got[1].from_user is not None and got[1].from_user.id == GROUP_ANONYMOUS_BOT["id"]


async def test_migration_and_topics(emulator: BotApiEmulator, bot: Bot) -> None:
    chat_id = emulator.add_group("Group", members=(ADMIN,))
    emulator.add_bot_to_group(chat_id, ADMIN)
    new_id = emulator.migrate_group(chat_id, ADMIN)
    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(chat_id, "hello")
    assert raised.value.new_chat_id == new_id
    assert (
        emulator.api_errors[-1][2] == "Bad Request: group chat was upgraded to a supergroup chat"
    )
    moves = [u.message for u in await updates(bot) if u.message and u.message.migrate_to_chat_id]
    assert moves[0].migrate_to_chat_id == new_id
    assert (await bot.send_message(new_id, "hello")).chat.type == "supergroup"

    forum = emulator.add_group("Forum", forum=True, members=(ADMIN,))
    topic = emulator.add_topic(forum, "Schedule")
    emulator.add_bot_to_group(forum, ADMIN)
    sent = await bot.send_message(forum, "in the topic", message_thread_id=topic)
    assert sent.message_thread_id == topic and sent.is_topic_message
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(forum, "nowhere", message_thread_id=999)


async def test_join_requests_need_the_invite_right(emulator: BotApiEmulator, bot: Bot) -> None:
    chat_id = emulator.add_group("Group", supergroup=True, members=(ADMIN,))
    emulator.add_user(7002, "Newcomer")
    emulator.add_bot_to_group(chat_id, ADMIN)
    emulator.request_join(chat_id, 7002)
    [request] = [u.chat_join_request for u in await updates(bot) if u.chat_join_request]
    assert request is not None and request.from_user.id == 7002
    with pytest.raises(BadRequest, match=r"(?i)CHAT_ADMIN_REQUIRED"):
        await bot.approve_chat_join_request(chat_id, 7002)
    emulator.set_bot_rights(chat_id, ADMIN, admin=True, can_pin=False, can_invite=True)
    assert await bot.approve_chat_join_request(chat_id, 7002)
    assert emulator.group_member(chat_id, 7002)
    with pytest.raises(BadRequest, match=r"(?i)HIDE_REQUESTER_MISSING"):
        await bot.decline_chat_join_request(chat_id, 7002)


async def test_twenty_messages_a_minute_per_group(emulator: BotApiEmulator, bot: Bot) -> None:
    chat_id = emulator.add_group("Group", members=(ADMIN,))
    emulator.add_bot_to_group(chat_id, ADMIN)
    for i in range(20):
        await bot.send_message(chat_id, f"message {i}")
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(chat_id, "one too many")
    assert emulator.api_errors[-1][1:] == (
        429, f"Too Many Requests: retry after {int(raised.value.retry_after.total_seconds())}",
    )  # fmt: skip
    assert 55 <= raised.value.retry_after.total_seconds() <= 60
    await bot.send_message(ADMIN, "private chats are not held by a group's minute")
