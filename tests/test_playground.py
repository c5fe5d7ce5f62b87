"""The playground is testable: a script of lines in, a transcript out."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.emulator import SentMessage
from bot.playground import clock_target, run_playground, shift_demo_files, to_terminal

ROOT = Path(__file__).resolve().parent.parent


async def test_scripted_session_as_student_in_uzbek(tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text(
        "# a student's first minutes\n/today\n/language\n:2\n/contacts\n:stranger\n/today\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert await run_playground(script=str(script), language="uz", out=out) == 0
    transcript = out.getvalue()
    assert "xush kelibsiz" in transcript.lower()  # the student joined through the invite
    assert "Bugun" in transcript  # /today in Uzbek
    assert "[1] Oʻzbekcha  [2] Русский  [3] English" in transcript
    assert "по-русски" in transcript  # pressed button 2
    assert "Контакты" in transcript and "112" in transcript
    assert "invite link" in transcript or "ссылк" in transcript or "havola" in transcript


def test_demo_command_replays_a_script(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("/help\n:quit\n/today\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--script", str(script)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "/contacts" in result.stdout
    assert "> /help" in result.stdout and "> /today" not in result.stdout  # stopped at :quit


# -- issue 8, item 15: what a person trying the playground ran into --------------------------

ALMATY = ZoneInfo("Asia/Almaty")
# Wednesday 16 September 2026, 07:00 in Almaty: the demo's second day, before the 08:00
# session (its reminder is due at 07:30), so the demo data is not shifted.
START = datetime(2026, 9, 16, 7, 0, tzinfo=ALMATY)
SAFETY = "【Introductory session: safety rules in the anatomy hall】 starts in 30 minutes"
OSTEOLOGY = "【Lecture: general osteology — structure and classification of bones】 starts in"


async def play(
    tmp_path: Path, lines: str, *, start: datetime = START, language: str = "en"
) -> str:
    script = tmp_path / "script.txt"
    script.write_text(lines, encoding="utf-8")
    out = io.StringIO()
    assert await run_playground(script=str(script), language=language, out=out, start=start) == 0
    return out.getvalue()


async def test_moving_the_clock_sends_what_fell_due_once_and_in_order(tmp_path: Path) -> None:
    transcript = await play(
        tmp_path,
        ":clock\n:clock +35m\n:clock +10m\n:clock 2026-09-16 20:05\n:clock 2026-09-16 07:00\n"
        ":clock tomorrow\n:clock\n",
    )
    assert "[it is Wed 2026-09-16 07:00 (Asia/Almaty)]" in transcript
    # The 07:30 reminder, once for each member (student and supervisor), not again later.
    assert transcript.count(SAFETY) == 2
    after_first_move = transcript.split("[the clock moves to Wed 2026-09-16 07:35")[1]
    assert after_first_move.split("[the clock moves to")[0].count(SAFETY) == 2
    assert "[the clock moves to Wed 2026-09-16 07:45 (Asia/Almaty)]\n  (nothing fell due)" in (
        transcript
    )
    # Up to 20:05: the 08:45 and 13:00 reminders, then the evening plan, in that order.
    evening = transcript.split("[the clock moves to Wed 2026-09-16 20:05")[1]
    osteology = evening.index(OSTEOLOGY)
    microscope = evening.index("【Practical: the microscope and preparing histological slides】")
    plan = evening.index("🌙 【Tomorrow's plan】 · 【Thursday, 17 September】")
    assert osteology < microscope < plan
    assert evening.count("Tomorrow's plan") == 2 and transcript.count(OSTEOLOGY) == 2
    assert "[to Aziza (student)]" in evening and "[to Nodir (supervisor)]" in evening
    assert "[the clock only moves forward; it is Wed 2026-09-16 20:05" in transcript
    assert "[:clock takes +35m, +2h, +1d" in transcript
    assert transcript.rstrip().endswith("[it is Wed 2026-09-16 20:05 (Asia/Almaty)]")


def test_clock_arguments() -> None:
    now = datetime(2026, 9, 16, 7, 0, tzinfo=ALMATY)
    assert clock_target("+35m", now, ALMATY) == now + timedelta(minutes=35)
    assert clock_target("+2h", now, ALMATY) == now + timedelta(hours=2)
    assert clock_target("+1d", now, ALMATY) == now + timedelta(days=1)
    assert clock_target("+1h30m", now, ALMATY) == now + timedelta(minutes=90)
    assert clock_target("+50s", now, ALMATY) == now + timedelta(seconds=50)
    assert clock_target("20:00", now, ALMATY) == datetime(2026, 9, 16, 20, tzinfo=ALMATY)
    assert clock_target("06:00", now, ALMATY) == datetime(2026, 9, 17, 6, tzinfo=ALMATY)
    assert clock_target("2026-09-18 07:50", now, ALMATY) == datetime(
        2026, 9, 18, 7, 50, tzinfo=ALMATY
    )
    for bad in ("+", "+5x", "+1h-2m", "tomorrow", "2026-02-30 10:00", "25:00", "0026-09-18 07:50"):
        assert clock_target(bad, now, ALMATY) is None, bad


async def test_messages_that_arrive_while_idle_are_shown_as_they_arrive(tmp_path: Path) -> None:
    # Three seconds before the 07:30 reminder; then nobody types. The reminder arrives on the
    # bot's own timer and is shown during the wait, not after some later line.
    transcript = await play(tmp_path, ":clock 07:29\n:clock +57s\n:wait 5\n/next\n")
    waited = transcript.split("[waiting 5 s]\n")[1].split("Aziza (student) > /next")[0]
    assert waited.count(SAFETY) == 2
    assert "[to Aziza (student)]" in waited and "[to Nodir (supervisor)]" in waited
    assert transcript.count(SAFETY) == 2


async def test_bold_and_italic_are_not_shown_as_asterisks(tmp_path: Path) -> None:
    transcript = await play(tmp_path, "/today\n/broadcast *typed stars* stay\n:supervisor\n")
    assert "📅 【Today】 · 【Wednesday, 16 September】" in transcript
    assert "*Today*" not in transcript and "<b>" not in transcript
    message = SentMessage(
        "sendMessage", 1, 1, "<b>Bold</b>, <i>italic</i> &amp; <a href='https://x.org'>x</a>",
        None, "HTML",
    )  # fmt: skip
    assert to_terminal(message) == "  【Bold】, 〔italic〕 & x (https://x.org)"
    assert to_terminal(message, ansi=True) == (
        "  \x1b[1mBold\x1b[22m, \x1b[3mitalic\x1b[23m & x (https://x.org)"
    )


async def test_student2_joins_when_chosen(tmp_path: Path) -> None:
    transcript = await play(tmp_path, ":student2\n/today\n:student2\n", language="ru")
    assert transcript.count("[Jasur opens the invite link") == 1
    jasur = transcript.split("[now typing as Jasur, student2]")[1]
    assert "Добро пожаловать" in jasur
    assert "Jasur (student2) > /today" in jasur and "【Сегодня】" in jasur


async def test_several_lines_make_one_announcement(tmp_path: Path) -> None:
    transcript = await play(
        tmp_path,
        ":supervisor\n/broadcast Bring white coats \\\nand the anatomy atlas\n:1\n"
        ":multi\n/broadcast Line one\nLine two\n:end\n:1\n:help\n",
    )
    received = transcript.split("[to Aziza (student)]")
    assert len(received) == 3
    assert "Bring white coats \n  and the anatomy atlas" in received[1]
    assert "Line one\n  Line two" in received[2]
    assert "goes on on the next line; or :multi" in transcript


async def test_upload_sends_a_file_with_a_caption(tmp_path: Path) -> None:
    changed = tmp_path / "sessions.csv"
    text = (ROOT / "data" / "sessions.csv").read_text(encoding="utf-8")
    changed.write_text(text.replace("Anatomy hall, Room 112", "Anatomy hall, Room 113"), "utf-8")
    transcript = await play(
        tmp_path,
        f":coordinator\n:upload data/sessions.csv /import\n:upload {changed} /import\n"
        ":upload no/such.csv /import\n",
    )
    assert "Saule (coordinator) sends the file sessions.csv" in transcript
    first, second = transcript.split("with the caption '/import'")[1:3]
    assert "No changes" in first
    assert "No changes" not in second and "[1]" in second  # a preview with Confirm/Cancel
    assert "[there is no file no/such.csv]" in transcript


def test_demo_dates_move_by_whole_weeks(tmp_path: Path) -> None:
    original = _sessions(ROOT / "data")
    for today in (date(2026, 9, 14), date(2026, 9, 15), date(2027, 3, 7), date(2031, 1, 1)):
        target = tmp_path / today.isoformat()
        target.mkdir()
        shift = shift_demo_files(ROOT / "data", target, today)
        assert shift.days % 7 == 0
        shifted = _sessions(target)
        assert [d.weekday() for d in shifted] == [d.weekday() for d in original]
        with (target / "cohorts.csv").open(encoding="utf-8") as fp:
            cohort = next(csv.DictReader(fp))
        arrives, departs = (
            date.fromisoformat(cohort["arrives"]),
            date.fromisoformat(cohort["departs"]),
        )
        assert arrives <= today < arrives + timedelta(days=7) and today <= departs


async def test_a_later_start_keeps_weekdays(tmp_path: Path) -> None:
    # Wednesday 10 March 2027: the programme (Tuesday to Saturday) moves to 9..27 March.
    start = datetime(2027, 3, 10, 7, 0, tzinfo=ALMATY)
    transcript = await play(tmp_path, "/today\n", start=start)
    assert "runs Tue 2027-03-09 to Sat 2027-03-27" in transcript
    assert "【Wednesday, 10 March】" in transcript and "safety rules" in transcript


def test_ctrl_c_leaves_quietly() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "demo"], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        assert process.stdout is not None and process.stderr is not None
        try:
            seen = b""
            os.set_blocking(process.stdout.fileno(), False)
            deadline = time.monotonic() + 60
            while b"Aziza> " not in seen and time.monotonic() < deadline:
                try:
                    seen += os.read(process.stdout.fileno(), 65536) or b""
                except BlockingIOError:
                    time.sleep(0.05)
            assert b"Aziza> " in seen, seen[-500:]
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 130
            errors = process.stderr.read().decode()
            assert "Traceback" not in errors and errors.strip() == ""
        finally:
            if process.poll() is None:
                process.kill()


def _sessions(folder: Path) -> list[date]:
    with (folder / "sessions.csv").open(encoding="utf-8-sig") as fp:
        return [date.fromisoformat(row["date"]) for row in csv.DictReader(fp)]
