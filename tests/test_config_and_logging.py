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


# -- issue 8, item 18: the token never reaches the terminal, whatever prints it --------------

# A token shaped like a real one (the pattern catches it too) and one that is not (only the
# configured secret can be recognised): both must stay off the terminal.
REFUSED_TOKENS = (
    "5555555555:AAF-another_secret_token_value_xyzw",
    "42:plain-secret-that-looks-like-nothing",
)


async def _refusing_server(status: int):  # type: ignore[no-untyped-def]
    """A loopback server answering every Bot API call as Telegram does for a bad token."""
    from aiohttp import web

    phrase = {401: "Unauthorized", 404: "Not Found"}[status]

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": status, "description": phrase}, status=status
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/bot"


@pytest.mark.parametrize("status", [401, 404])
async def test_a_refused_token_is_never_printed(tmp_path: Path, status: int) -> None:
    import asyncio

    from bot.emulator import BotApiEmulator
    from tests.conftest import seed_demo

    database = tmp_path / "bot.sqlite3"
    await seed_demo(database)
    if status == 401:  # the project's emulator answers 401 to any other token
        server = BotApiEmulator(token="7012345678:AAHk3-the_emulators_own_token_abcdef")
        await server.start()
        base_url, stop = server.base_url, server.stop
    else:
        runner, base_url = await _refusing_server(404)
        stop = runner.cleanup
    phrase = {401: "401 Unauthorized", 404: "404 Not Found"}[status]
    # Each command that talks to Telegram, each with one of the two token shapes (the other
    # shape in the other status's run).
    first, second = REFUSED_TOKENS if status == 401 else REFUSED_TOKENS[::-1]
    runs = (
        (["run"], first),
        (["check"], second),
        (["invite", "TPI-2026", "student"], first),
    )

    def one(command: list[str], token: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_BASE_URL": base_url,
               "BOT_DATABASE": str(database)}  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "bot", *command], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    try:  # side by side: each is a process start-up and one refused request
        results = await asyncio.gather(*(asyncio.to_thread(one, c, t) for c, t in runs))
        for (command, token), result in zip(runs, results, strict=True):
            everything = result.stdout + result.stderr
            secret = token.split(":", 1)[1]
            assert token not in everything and secret not in everything, (command, everything)
            assert result.returncode == 1, (command, everything)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, (command, result.stderr)
            assert lines[0].endswith(
                f"Telegram refused the token ({phrase}); check TELEGRAM_BOT_TOKEN"
            ), (command, lines)
            assert "Traceback" not in everything
    finally:
        await stop()


def test_the_terminal_is_redacted_even_when_a_token_is_written_in_pieces() -> None:
    # What print() of an exception and an uncaught traceback do: straight to the stream.
    code = (
        "import sys\n"
        "from bot.logs import protect_terminal\n"
        f"protect_terminal({TOKEN!r})\n"
        f"token = {TOKEN!r}\n"
        "print('as a whole:', token)\n"
        "sys.stdout.write('in pieces: ' + token[:7]); sys.stdout.write(token[7:] + '\\n')\n"
        "print('percent-encoded:', token.replace(':', '%3A'), file=sys.stderr)\n"
        "print('another token: 1234567890:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc')\n"
        "raise RuntimeError('bad token ' + token)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    everything = result.stdout + result.stderr
    assert "very_secret" not in everything and "ABCDEFGHIJ" not in everything
    assert "as a whole: <secret>" in result.stdout and "in pieces: <secret>" in result.stdout
    assert "RuntimeError: bad token <secret>" in result.stderr
