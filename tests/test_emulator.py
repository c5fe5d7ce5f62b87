"""Wire-compatibility tests for the Bot API emulator, driven by the real python-telegram-bot.

Every test talks HTTP on loopback through ``telegram.Bot`` (or a raw aiohttp client), so a
passing suite means PTB's actual request encoding and response parsing agree with the emulator.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.helpers import escape_markdown
from yarl import URL

from bot.emulator import BotApiEmulator, SentMessage
from bot.emulator.formatting import EntityParseError, parse_text

ALICE = 1001
BOB = 1002
STRANGER = 4242
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture(autouse=True)
def timedelta_time_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns whenever it builds a RetryAfter unless this opt-in is set, and the
    project's pytest config turns warnings into errors."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator() as emu:
        emu.add_user(ALICE, "Alice", last_name="Liddell", username="alice")
        emu.add_user(BOB, "Bob", language_code="ru")
        yield emu


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(
        emulator.token, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as ptb_bot:
        yield ptb_bot


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in buttons])


# ------------------------------------------------------------------------------ basics


async def test_get_me_describes_the_bot(emulator: BotApiEmulator, bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.username, me.first_name, me.is_bot) == (
        123456,
        "mobility_test_bot",
        "Mobility Bot",
        True,
    )
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.request_count("getMe") == emulator.request_count("GETME") >= 1


async def test_wrong_token_raises_invalid_token(emulator: BotApiEmulator) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=emulator.base_url):
            pass


async def test_unknown_chat_and_unknown_method_are_rejected(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(STRANGER, "hello?")

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emulator.base_url}{emulator.token}/sendPigeon") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }


async def test_json_body_and_query_string_are_accepted(emulator: BotApiEmulator) -> None:
    api = f"{emulator.base_url}{emulator.token}"
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    async with aiohttp.ClientSession() as session:
        body = {"chat_id": ALICE, "text": "42", "reply_markup": markup}
        async with session.post(f"{api}/SendMessage", json=body) as response:
            payload = await response.json()
        async with session.get(f"{api}/getMe") as response:
            me = await response.json()

    assert payload["ok"] is True
    assert payload["result"]["text"] == "42"  # a numeric-looking text stays a string
    assert payload["result"]["reply_markup"] == markup
    assert emulator.sent[-1].buttons() == [("Yes", "yes")]
    assert me["result"]["username"] == emulator.bot_username


# ------------------------------------------------------------------------------ messages


async def test_send_message_round_trips_inline_keyboard(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Deadlines", callback_data="menu:deadlines")],
            [InlineKeyboardButton("Guide", url="https://example.org/guide")],
        ]
    )

    message = await bot.send_message(ALICE, "Main menu", reply_markup=markup)

    assert message.reply_markup == markup
    assert message.chat.id == ALICE and message.from_user.id == bot.id
    sent = emulator.sent[-1]
    assert (sent.method, sent.chat_id, sent.message_id, sent.text) == (
        "sendMessage",
        ALICE,
        message.message_id,
        "Main menu",
    )
    assert sent.buttons() == [
        ("Deadlines", "menu:deadlines"),
        ("Guide", "https://example.org/guide"),
    ]


async def test_reply_keyboard_is_recorded_but_not_echoed(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    message = await bot.send_message(
        ALICE, "Pick one", reply_markup=ReplyKeyboardMarkup([["English", "Русский"]])
    )

    assert message.reply_markup is None
    assert emulator.sent[-1].keyboard_buttons() == ["English", "Русский"]


async def test_html_is_rendered_and_malformed_html_rejected(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    message = await bot.send_message(
        ALICE, "<b>Hi</b> Alice &amp; <i>Bob</i> 👋", parse_mode=ParseMode.HTML
    )

    assert message.text == "Hi Alice & Bob 👋"
    assert message.text_html == "<b>Hi</b> Alice &amp; <i>Bob</i> 👋"
    assert emulator.sent[-1].text == "<b>Hi</b> Alice &amp; <i>Bob</i> 👋"
    assert emulator.sent[-1].plain_text == "Hi Alice & Bob 👋"
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(ALICE, "I <3 unescaped input", parse_mode=ParseMode.HTML)


async def test_markdown_v2_requires_escaping(bot: Bot) -> None:
    message = await bot.send_message(
        ALICE, r"*Fee:* 9\.99 EUR \- [portal](https://example.org)", parse_mode="MarkdownV2"
    )

    assert message.text == "Fee: 9.99 EUR - portal"
    assert message.text_markdown_v2 == r"*Fee:* 9\.99 EUR \- [portal](https://example.org)"
    with pytest.raises(BadRequest, match=r"(?i)Character '\.' is reserved"):
        await bot.send_message(ALICE, "Fee: 9.99", parse_mode="MarkdownV2")


async def test_telegram_limits_are_enforced(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(ALICE, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(ALICE, "menu", reply_markup=keyboard(("Too long", "d" * 65)))
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(ALICE, "re", reply_to_message_id=999)


async def test_message_ids_are_shared_per_chat(emulator: BotApiEmulator, bot: Bot) -> None:
    inbound = await emulator.send_text(ALICE, "hello")
    reply = await bot.send_message(ALICE, "hi", reply_to_message_id=inbound["message_id"])
    to_bob = await bot.send_message(BOB, "hi")

    assert (inbound["message_id"], reply.message_id, to_bob.message_id) == (1, 2, 1)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "hello"


async def test_edit_message_text_and_markup(emulator: BotApiEmulator, bot: Bot) -> None:
    sent = await bot.send_message(ALICE, "Step 1", reply_markup=keyboard(("Next", "next")))

    edited = await bot.edit_message_text(
        "<b>Step 2</b>", chat_id=ALICE, message_id=sent.message_id, parse_mode="HTML"
    )
    await bot.edit_message_reply_markup(
        ALICE, sent.message_id, reply_markup=keyboard(("Done", "done"))
    )

    assert not isinstance(edited, bool) and edited.text == "Step 2"
    assert [m.method for m in emulator.sent] == [
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
    ]
    assert emulator.sent[-1].buttons() == [("Done", "done")]
    assert emulator.sent[-1].text == "<b>Step 2</b>"
    current = emulator.get_message(ALICE, sent.message_id)
    assert current is not None and current["text"] == "Step 2"
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(
            ALICE, sent.message_id, reply_markup=keyboard(("Done", "done"))
        )
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("nope", chat_id=ALICE, message_id=999)


async def test_delete_message(emulator: BotApiEmulator, bot: Bot) -> None:
    sent = await bot.send_message(ALICE, "temporary")

    assert await bot.delete_message(ALICE, sent.message_id) is True
    assert emulator.get_message(ALICE, sent.message_id) is None
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(ALICE, sent.message_id)


async def test_send_venue_location_and_chat_action(emulator: BotApiEmulator, bot: Bot) -> None:
    venue = await bot.send_venue(ALICE, 48.1372, 11.5756, "International Office", "Marienplatz 1")
    await bot.send_location(ALICE, 52.52, 13.405)
    assert await bot.send_chat_action(ALICE, "typing") is True

    assert venue.venue is not None and venue.venue.title == "International Office"
    venue_sent, location_sent = emulator.sent
    assert venue_sent.text == "International Office\nMarienplatz 1"
    assert (venue_sent.latitude, venue_sent.longitude) == (48.1372, 11.5756)
    assert (location_sent.method, location_sent.latitude) == ("sendLocation", 52.52)
    assert emulator.request_count("sendChatAction") == 1


# ------------------------------------------------------------------------------ files


async def test_send_document_stores_bytes_and_filename(emulator: BotApiEmulator, bot: Bot) -> None:
    content = b"name;deadline\nLearning agreement;2025-03-01\n"

    message = await bot.send_document(
        ALICE,
        InputFile(content, filename="deadlines.csv"),
        caption="<i>Your</i> export",
        parse_mode="HTML",
    )

    sent = emulator.sent[-1]
    assert (sent.method, sent.document, sent.filename) == (
        "sendDocument",
        content,
        "deadlines.csv",
    )
    assert (sent.text, sent.plain_text) == ("<i>Your</i> export", "Your export")
    assert message.document is not None
    assert message.document.file_name == "deadlines.csv"
    assert message.document.file_size == len(content)
    assert message.caption == "Your export"


async def test_user_document_can_be_downloaded(emulator: BotApiEmulator, bot: Bot) -> None:
    content = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"

    await emulator.send_document(ALICE, "plan.ics", content, caption="/import")
    (update,) = await bot.get_updates(timeout=0)

    message = update.message
    assert message is not None and message.document is not None
    assert message.document.file_name == "plan.ics"
    assert message.caption == "/import"
    assert message.caption_entities[0].type == "bot_command"
    file = await bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content


async def test_file_route_accepts_encoded_token_only(emulator: BotApiEmulator) -> None:
    await emulator.send_document(BOB, "notes.txt", b"notes")
    file_path = "documents/file_1.txt"
    encoded_token = emulator.token.replace(":", "%3A")
    base = emulator.base_file_url

    async with aiohttp.ClientSession() as session:
        statuses = []
        for url in (
            f"{base}{emulator.token}/{file_path}",
            f"{base}{encoded_token}/{file_path}",  # what PTB sends
            f"{base}123:other/{file_path}",
            f"{base}{emulator.token}/documents/missing.txt",
        ):
            async with session.get(URL(url, encoded=True)) as response:
                statuses.append((response.status, await response.read()))

    assert [status for status, _ in statuses] == [200, 200, 401, 404]
    assert statuses[1][1] == b"notes"


async def test_bot_can_resend_a_file_by_id(emulator: BotApiEmulator, bot: Bot) -> None:
    first = await bot.send_document(ALICE, InputFile(b"data", filename="a.txt"))
    assert first.document is not None

    await bot.send_document(BOB, first.document.file_id)

    assert emulator.sent[-1].document == b"data"
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(BOB, "no-such-file-id")


# ------------------------------------------------------------------------------ updates


async def test_get_updates_long_poll_wakes_on_new_update(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await emulator.wait_for_request("getUpdates")  # the poll is now waiting server-side

    await emulator.send_text(ALICE, "/start@mobility_test_bot")
    updates = await asyncio.wait_for(poll, timeout=2)

    (update,) = updates
    assert update.message is not None
    assert update.message.text == "/start@mobility_test_bot"
    assert update.message.from_user is not None
    assert update.message.from_user.language_code == "en"
    (entity,) = update.message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 24)
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_get_updates_respects_offset_and_limit(emulator: BotApiEmulator, bot: Bot) -> None:
    for text in ("one", "two", "three"):
        await emulator.send_text(BOB, text)

    first_two = await bot.get_updates(limit=2, timeout=0)
    rest = await bot.get_updates(offset=first_two[-1].update_id + 1, timeout=0)

    assert [u.message.text for u in first_two if u.message] == ["one", "two"]
    assert [u.message.text for u in rest if u.message] == ["three"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()


async def test_a_second_poller_conflicts_with_the_first(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await emulator.wait_for_request("getUpdates")

    # A second bot instance: one Bot serialises its own getUpdates calls (pool size 1).
    async with Bot(emulator.token, base_url=emulator.base_url) as second_instance:
        second = asyncio.create_task(second_instance.get_updates(timeout=0.2))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
            await asyncio.wait_for(first, timeout=2)
        assert await second == ()


@pytest.mark.parametrize("text", ["", "  \n"])
async def test_users_cannot_send_empty_messages(emulator: BotApiEmulator, text: str) -> None:
    with pytest.raises(ValueError, match="empty message"):
        await emulator.send_text(ALICE, text)


async def test_set_language_changes_future_updates(emulator: BotApiEmulator, bot: Bot) -> None:
    emulator.set_language(ALICE, "de")
    await emulator.send_text(ALICE, "hallo")

    (update,) = await bot.get_updates(timeout=0)

    assert update.effective_user is not None
    assert update.effective_user.language_code == "de"


async def test_press_button_produces_callback_query(emulator: BotApiEmulator, bot: Bot) -> None:
    sent = await bot.send_message(ALICE, "Ready?", reply_markup=keyboard(("Yes", "answer:yes")))

    query_id = await emulator.press_button(ALICE, sent.message_id, "answer:yes")
    (update,) = await bot.get_updates(timeout=1)
    await bot.answer_callback_query(query_id, text="Saved", show_alert=True)

    query = update.callback_query
    assert query is not None
    assert (query.id, query.data, query.from_user.id) == (query_id, "answer:yes", ALICE)
    assert query.message is not None and query.message.message_id == sent.message_id
    assert emulator.callback_answers == [
        {
            "callback_query_id": query_id,
            "text": "Saved",
            "show_alert": True,
            "url": None,
            "cache_time": None,
        }
    ]
    with pytest.raises(ValueError, match="no button with callback_data 'answer:no'"):
        await emulator.press_button(ALICE, sent.message_id, "answer:no", require_button=True)
    forged_id = await emulator.press_button(ALICE, sent.message_id, "answer:no")
    (forged,) = await bot.get_updates(offset=update.update_id + 1, timeout=1)
    assert forged.callback_query is not None
    assert (forged.callback_query.id, forged.callback_query.data) == (forged_id, "answer:no")
    with pytest.raises(BadRequest, match=r"(?i)query ID is invalid"):
        await bot.answer_callback_query("12345")


# ------------------------------------------------------------------------------ commands


async def test_set_my_commands_per_scope_and_language(emulator: BotApiEmulator, bot: Bot) -> None:
    default = [BotCommand("start", "Start"), BotCommand("help", "Help")]
    russian = [BotCommand("start", "Начать")]

    await bot.set_my_commands(default)
    await bot.set_my_commands(russian, scope=BotCommandScopeChat(BOB), language_code="ru")

    chat_scope = json.dumps({"type": "chat", "chat_id": BOB}, sort_keys=True)
    assert emulator.commands[('{"type": "default"}', None)] == [
        {"command": "start", "description": "Start"},
        {"command": "help", "description": "Help"},
    ]
    assert emulator.commands[(chat_scope, "ru")] == [{"command": "start", "description": "Начать"}]
    assert emulator.commands_for({"type": "chat", "chat_id": BOB}, "ru") is not None
    fetched = await bot.get_my_commands(scope=BotCommandScopeChat(BOB), language_code="ru")
    assert fetched == tuple(russian)
    await bot.delete_my_commands(scope=BotCommandScopeChat(BOB), language_code="ru")
    assert (chat_scope, "ru") not in emulator.commands
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Import-File", "Import")])


# ------------------------------------------------------------------------------ faults


async def test_blocked_user_is_forbidden_until_unblocked(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    emulator.block_user(ALICE)

    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(ALICE, "reminder")
    emulator.unblock_user(ALICE)
    await bot.send_message(ALICE, "reminder")

    assert [m.text for m in emulator.messages_to(ALICE)] == ["reminder"]


async def test_flood_control_answers_retry_after(emulator: BotApiEmulator, bot: Bot) -> None:
    emulator.set_flood_control(global_per_second=30, per_chat_per_second=1.0, retry_after=3)

    await bot.send_message(ALICE, "first")
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(ALICE, "second")
    await bot.send_message(BOB, "other chats have their own budget")

    assert raised.value.retry_after == dtm.timedelta(seconds=3)
    assert emulator.too_many_requests == 1
    assert [m.text for m in emulator.sent] == ["first", "other chats have their own budget"]


async def test_global_flood_limit_spans_chats(emulator: BotApiEmulator, bot: Bot) -> None:
    emulator.set_flood_control(global_per_second=2, per_chat_per_second=None)

    await bot.send_message(ALICE, "1")
    await bot.send_message(BOB, "2")
    with pytest.raises(RetryAfter):
        await bot.send_message(ALICE, "3")
    emulator.disable_flood_control()
    await bot.send_message(ALICE, "3")


async def test_fail_next_injects_errors(emulator: BotApiEmulator, bot: Bot) -> None:
    emulator.fail_next("sendmessage", times=2)

    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(ALICE, "retry me")
    await bot.send_message(ALICE, "retry me")

    assert emulator.request_count("sendMessage") == 3
    assert len(emulator.sent) == 1


# ------------------------------------------------------------------------------ observing


async def test_wait_for_message_filters_and_times_out_helpfully(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    await bot.send_message(BOB, "for Bob")
    mark = len(emulator.sent)
    later = asyncio.create_task(bot.send_message(ALICE, "for Alice"))

    message = await emulator.wait_for_message(ALICE, after=mark)
    await later

    assert message.text == "for Alice"
    with pytest.raises(TimeoutError, match="'for Bob'"):
        await emulator.wait_for_message(
            ALICE, predicate=lambda m: "Bob" in (m.text or ""), timeout=0.05
        )


async def test_subscribers_see_every_sent_message(emulator: BotApiEmulator, bot: Bot) -> None:
    seen: list[SentMessage] = []
    emulator.subscribe(seen.append)

    await bot.send_message(ALICE, "one")
    await bot.send_message(BOB, "two")

    assert [m.text for m in seen] == ["one", "two"]


async def test_real_application_handles_command_and_button(emulator: BotApiEmulator) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("Welcome!", reply_markup=keyboard(("Continue", "go")))

    async def go(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("Done")
        await update.callback_query.edit_message_text("You continued.")

    application = (
        Application.builder()
        .token(emulator.token)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(go))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0)
        try:
            await emulator.send_text(ALICE, "/start")
            welcome = await emulator.wait_for_message(ALICE)
            await emulator.press_button(ALICE, welcome.message_id, "go")
            edited = await emulator.wait_for_message(
                ALICE, predicate=lambda m: m.method == "editMessageText"
            )
        finally:
            await application.updater.stop()
            await application.stop()

    assert welcome.buttons() == [("Continue", "go")]
    assert (edited.message_id, edited.text, edited.buttons()) == (
        welcome.message_id,
        "You continued.",
        [],
    )
    assert emulator.callback_answers[0]["text"] == "Done"


# ------------------------------------------------------------------------------ webhooks


@dataclass
class WebhookReceiver:
    """What a tiny stand-in for the bot's webhook server saw."""

    url: str
    accepted: asyncio.Queue[tuple[dict, str]] = field(default_factory=asyncio.Queue)
    rejected: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    """Accepts only requests carrying the secret ``s3cret``, like PTB's webhook server."""
    queues = WebhookReceiver(url="")

    async def handle(request: web.Request) -> web.Response:
        secret = request.headers.get(SECRET_HEADER)
        if secret != "s3cret":
            queues.rejected.put_nowait(secret)
            return web.Response(status=403)
        queues.accepted.put_nowait((await request.json(), secret))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    queues.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield queues
    finally:
        await runner.cleanup()


async def test_webhook_delivers_updates_with_secret(
    emulator: BotApiEmulator, bot: Bot, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url
    await bot.set_webhook(url, secret_token="s3cret")

    await emulator.send_text(ALICE, "/deadlines")
    update, secret = await asyncio.wait_for(webhook_receiver.accepted.get(), timeout=2)

    assert secret == "s3cret"
    assert update["message"]["text"] == "/deadlines"
    assert emulator.webhook_url == url
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == (url, 0)
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates(timeout=0)
    assert await emulator.deliver_raw_webhook(update, "wrong") == 403
    assert await emulator.deliver_raw_webhook(update, None) == 403

    await bot.delete_webhook()
    await emulator.send_text(ALICE, "back to polling")
    (polled,) = await bot.get_updates(timeout=1)
    assert polled.message is not None and polled.message.text == "back to polling"


async def test_webhook_delivery_retries_until_accepted(
    emulator: BotApiEmulator, bot: Bot, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url
    await bot.set_webhook(url, secret_token="stale-secret")
    await emulator.send_text(ALICE, "are you there?")

    assert await asyncio.wait_for(webhook_receiver.rejected.get(), timeout=2) == "stale-secret"
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
    await bot.set_webhook(url, secret_token="s3cret")
    update, _ = await asyncio.wait_for(webhook_receiver.accepted.get(), timeout=2)

    assert update["message"]["text"] == "are you there?"


# ------------------------------------------------------------------------------ formatting


@pytest.mark.parametrize(
    ("mode", "source", "plain", "entities"),
    [
        ("HTML", "😀 <b>bold <i>both</i></b>", "😀 bold both", [("bold", 3, 9), ("italic", 8, 4)]),
        ("HTML", '<a href="https://x.org">x</a>', "x", [("text_link", 0, 1)]),
        ("HTML", '<pre><code class="language-py">1</code></pre>', "1", [("pre", 0, 1)]),
        (
            "MarkdownV2",
            r"__u__ ||s|| `a\`b`",
            "u s a`b",
            [("underline", 0, 1), ("spoiler", 2, 1), ("code", 4, 3)],
        ),
        ("MarkdownV2", ">quoted\nplain", "quoted\nplain", [("blockquote", 0, 6)]),
        (
            "Markdown",
            "*b* _i_ [l](https://x.org)",
            "b i l",
            [("bold", 0, 1), ("italic", 2, 1), ("text_link", 4, 1)],
        ),
    ],
)
def test_parse_modes_render_like_telegram(
    mode: str, source: str, plain: str, entities: list[tuple[str, int, int]]
) -> None:
    text, parsed = parse_text(source, mode)

    assert text == plain
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


@pytest.mark.parametrize(
    ("mode", "source", "error"),
    [
        ("HTML", "<b>open", 'end tag corresponding to start tag "b"'),
        ("HTML", "<b>x</i>", 'expected "</b>", found "</i>"'),
        ("HTML", "<br>", 'Unsupported start tag "br"'),
        ("MarkdownV2", "*bold", "Can't find end of Bold entity"),
        ("MarkdownV2", "a-b", "Character '-' is reserved"),
        ("Markdown", "_open", "Can't find end of the entity"),
    ],
)
def test_parse_modes_reject_malformed_markup(mode: str, source: str, error: str) -> None:
    with pytest.raises(EntityParseError, match=error):
        parse_text(source, mode)


@settings(database=None)
@given(st.text())
def test_properly_escaped_input_is_always_accepted_verbatim(raw: str) -> None:
    """Bots escape user input with these helpers; the emulator must never reject the result."""
    assert parse_text(html.escape(raw, quote=False), "HTML")[0] == raw
    assert parse_text(escape_markdown(raw, version=2), "MarkdownV2")[0] == raw
    assert parse_text(f"<b>{html.escape(raw)}</b>", "HTML")[0] == raw


async def test_stop_releases_a_pending_long_poll(emulator: BotApiEmulator, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await emulator.wait_for_request("getUpdates")

    await asyncio.wait_for(emulator.stop(), timeout=2)

    assert await asyncio.wait_for(poll, timeout=2) == ()


async def test_users_photos_locations_replies_and_copies(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    """What a help desk and a check-in need: a user's photo, location and reply reach the bot as
    Telegram shapes them, and copyMessage forwards a photo without uploading it again."""
    asked = await emulator.send_text(ALICE, "Where is room 105?")
    photo = await emulator.send_photo(ALICE, b"\xff\xd8jpeg", caption="this door?")
    await emulator.send_location(ALICE, 43.2566, 76.9286, reply_to=asked["message_id"])
    await emulator.send_sticker(ALICE)
    updates = await bot.get_updates()
    messages = [u.message for u in updates]
    assert messages[1].photo[-1].file_id == photo["photo"][-1]["file_id"]
    assert messages[1].caption == "this door?"
    assert messages[2].location.latitude == pytest.approx(43.2566)
    assert messages[2].reply_to_message.text == "Where is room 105?"
    assert messages[3].sticker is not None and messages[3].text is None
    copy = await bot.copy_message(BOB, ALICE, photo["message_id"], caption="from Alice")
    sent = emulator.sent[-1]
    assert (sent.method, sent.chat_id, sent.message_id) == ("copyMessage", BOB, copy.message_id)
    assert sent.document == b"\xff\xd8jpeg" and sent.text == "from Alice"
    stored = emulator.get_message(BOB, copy.message_id)
    assert stored is not None and stored["photo"] == photo["photo"]  # no second upload
    answer = await bot.send_message(ALICE, "Across the hall.")
    reply = await emulator.send_text(ALICE, "Thanks!", reply_to=answer.message_id)
    assert reply["reply_to_message"]["from"]["id"] == emulator.bot_id
    with pytest.raises(BadRequest, match=r"(?i)message to copy not found"):
        await bot.copy_message(BOB, ALICE, 999)
    with pytest.raises(LookupError):
        await emulator.send_text(ALICE, "to nowhere", reply_to=999)
