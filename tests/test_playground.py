"""The playground is testable: a script of lines in, a transcript out."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from bot.playground import run_playground

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
