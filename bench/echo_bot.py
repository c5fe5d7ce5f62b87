"""The baseline: a bare python-telegram-bot echo bot, configured like ours (same base URL,
same rate limiter), so the latency ratio shows only what our handlers add."""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters

# With BENCH_ECHO_ANSWER set (a file of HTML), every message is answered with that text, as
# HTML: the same answer our bot gives, so that the emulator's work (parsing the markup into
# entities, on the same two cores) is the same on both sides of the ratio.
ANSWER = os.environ.get("BENCH_ECHO_ANSWER")
FIXED = open(ANSWER, encoding="utf-8").read() if ANSWER else None


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message and update.effective_message.text:
        if FIXED is not None:
            await update.effective_message.reply_text(FIXED, parse_mode="HTML")
        else:
            await update.effective_message.reply_text(update.effective_message.text)


def main() -> None:
    builder = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_BASE_URL"])
    )
    rate = float(os.environ.get("BOT_MAX_MESSAGES_PER_SECOND", "29.5"))
    if rate > 0:
        builder.rate_limiter(
            AIORateLimiter(overall_max_rate=1, overall_time_period=1 / rate, max_retries=3)
        )
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
