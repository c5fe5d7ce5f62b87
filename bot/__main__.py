"""Command line: `python -m bot run|demo|import|invite ...` (also the `mobility-bot` script)."""

from __future__ import annotations

import argparse
import os
import sys

from bot import cli
from bot.logs import protect_terminal


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mobility-bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot against Telegram (needs TELEGRAM_BOT_TOKEN)")
    run.add_argument("--webhook", metavar="URL", help="serve a webhook at this public URL")
    run.add_argument("--listen", default="0.0.0.0", help="webhook: address to listen on")
    run.add_argument("--port", type=int, default=8443, help="webhook: port to listen on")

    demo = sub.add_parser("demo", help="the playground: the real bot against a local emulator")
    demo.add_argument("--script", help="replay the lines of this file and print the transcript")
    demo.add_argument("--language", default="en", choices=["en", "ru", "uz"])
    demo.add_argument(
        "--start", metavar="'YYYY-MM-DD HH:MM'", help="start the clock here (Asia/Almaty time)"
    )

    imp = sub.add_parser("import", help="import cohorts, sessions or contacts (CSV or XLSX)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--dry-run", action="store_true", help="validate and show, write nothing")

    inv = sub.add_parser("invite", help="print an invite link for a cohort")
    inv.add_argument("cohort")
    inv.add_argument("role", choices=["student", "supervisor"])
    inv.add_argument("--uses", type=int, default=None, help="how many people may use it")
    inv.add_argument("--days", type=int, default=None, help="days until it expires")
    inv.add_argument(
        "--bot-username",
        default=None,
        metavar="NAME",
        help="the bot's username, with or without @, instead of asking Telegram (getMe)",
    )
    sub.add_parser("check", help="health check: database, catalogs, and getMe with a token")
    backup = sub.add_parser("backup", help="online backup of the database, safe while running")
    backup.add_argument("file")
    sub.add_parser("stats", help="numbers for operators")
    purge = sub.add_parser("purge", help="delete a finished cohort's members and messages")
    purge.add_argument("cohort")
    export = sub.add_parser("export", help="a cohort as XLSX in the import format, with tasks")
    export.add_argument("cohort")
    export.add_argument("file", help="the .xlsx file to write (must not exist)")
    att = sub.add_parser("attendance", help="a cohort's attendance record as an XLSX file")
    att.add_argument("cohort")
    att.add_argument("--xlsx", required=True, metavar="FILE", help="the workbook to write")
    return p


def main(argv: list[str] | None = None) -> int:
    # Before anything can print: the token never reaches the terminal, whatever prints it
    # (python-telegram-bot's InvalidToken message carries it, and so would a traceback).
    protect_terminal(os.environ.get("TELEGRAM_BOT_TOKEN", "").strip())
    args = parser().parse_args(argv)
    handlers = {
        "run": cli.run,
        "demo": cli.demo,
        "import": cli.import_files,
        "invite": cli.invite,
        "check": cli.check,
        "backup": cli.backup,
        "stats": cli.stats,
        "purge": cli.purge,
        "export": cli.export,
        "attendance": cli.attendance,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
