"""Settings from the environment, the one-line token error, and no token in any log line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.logs import RedactTokenFilter, redact, setup_logging

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAH-very_secret-token-value-abcdefghij"


def test_defaults_and_overrides() -> None:
    s = Settings.from_env({})
    assert s.base_url == "https://api.telegram.org/bot"
    assert s.base_file_url == "https://api.telegram.org/file/bot"
    assert str(s.database) == "data/mobility.sqlite3"
    assert s.reminder_minutes == (30,)
    s = Settings.from_env(
        {"BOT_COORDINATORS": "1, 2,3", "BOT_REMINDER_MINUTES": "15,60", "BOT_DATABASE": "/x.db"}
    )
    assert s.coordinators == {1, 2, 3}
    assert s.reminder_minutes == (60, 15)
    assert str(s.database) == "/x.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [("BOT_COORDINATORS", "12,abc"), ("BOT_REMINDER_MINUTES", "0"), ("BOT_REMINDER_MINUTES", "x")],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_run_without_token_exits_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], capture_output=True, text=True, env=env,
        cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN" in lines[0]


def test_token_is_redacted_from_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup_logging(TOKEN)
    logger = logging.getLogger("test.redact")
    handler_filter = RedactTokenFilter(TOKEN)
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO):
            logger.info("POST https://api.telegram.org/bot%s/getMe", TOKEN)
            logger.info(
                "file %s", "https://api.telegram.org/file/bot123456789%3AAAH-very_secret-token"
            )
            try:
                raise RuntimeError(f"bad url /bot{TOKEN}/sendMessage")
            except RuntimeError:
                logger.exception("failed")
        text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
        assert "very_secret" not in text
        assert "<token>" in text
    finally:
        logger.removeFilter(handler_filter)
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


def test_redact_leaves_ordinary_numbers_alone() -> None:
    assert redact("user 123456 sent 42") == "user 123456 sent 42"


async def test_a_running_bot_never_logs_its_token(tmp_path: Path) -> None:
    from bot.emulator import BotApiEmulator

    # A token shaped like a real one, so the redacting filter is what is tested too.
    async with BotApiEmulator(token="7012345678:AAHk3-real_looking_token_value_abcdef") as emu:
        await _run_and_read_logs(emu, tmp_path)


async def _run_and_read_logs(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import signal

    from tests.conftest import seed_demo

    database = tmp_path / "bot.sqlite3"
    await seed_demo(database)
    emulator.add_user(42, "Logger")
    log_file = tmp_path / "bot.log"
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": emulator.token,
           "TELEGRAM_BASE_URL": emulator.base_url, "BOT_DATABASE": str(database)}  # fmt: skip
    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            await emulator.wait_for_request("getUpdates", 1, timeout=30)
            await emulator.send_text(42, "/start")
            await emulator.wait_for_message(42, timeout=10)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    text = log_file.read_text()
    assert "ready" in text  # it did log, at INFO
    secret = emulator.token.split(":", 1)[1]
    assert secret not in text
