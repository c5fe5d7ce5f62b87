"""Command line: `python -m bot run|demo|import|invite ...` (also the `mobility-bot` script)."""

from __future__ import annotations

import argparse
import sys

from bot import cli


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mobility-bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the bot against Telegram (needs TELEGRAM_BOT_TOKEN)")

    demo = sub.add_parser("demo", help="the playground: the real bot against a local emulator")
    demo.add_argument("--script", help="replay the lines of this file and print the transcript")
    demo.add_argument("--language", default="en", choices=["en", "ru", "uz"])

    imp = sub.add_parser("import", help="import cohorts, sessions or contacts (CSV or XLSX)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--dry-run", action="store_true", help="validate and show, write nothing")

    inv = sub.add_parser("invite", help="print an invite link for a cohort")
    inv.add_argument("cohort")
    inv.add_argument("role", choices=["student", "supervisor"])
    inv.add_argument("--uses", type=int, default=None, help="how many people may use it")
    inv.add_argument("--days", type=int, default=None, help="days until it expires")
    inv.add_argument("--bot-username", default=None, help="instead of asking Telegram (getMe)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handlers = {
        "run": cli.run,
        "demo": cli.demo,
        "import": cli.import_files,
        "invite": cli.invite,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
