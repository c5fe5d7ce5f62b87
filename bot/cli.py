"""What each command-line subcommand does; `__main__` only parses the arguments."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot.clock import Clock
from bot.config import ConfigError, Settings
from bot.logs import setup_logging
from bot.storage import Database, Storage

log = logging.getLogger("bot")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.token:
        print(
            "error: TELEGRAM_BOT_TOKEN is not set; set it to the token from @BotFather "
            "(or run `make run` without it for the playground)",
            file=sys.stderr,
        )
        return 2
    setup_logging(settings.token)
    from telegram import Update

    from bot.app import build_application

    app = build_application(settings)
    app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


def demo(args: argparse.Namespace) -> int:
    from bot.playground import run_playground

    return asyncio.run(run_playground(script=args.script, language=args.language))


def import_files(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    return asyncio.run(_import(settings, [Path(f) for f in args.files], dry_run=args.dry_run))


async def _import(settings: Settings, paths: list[Path], *, dry_run: bool) -> int:
    from bot.services.importer import Importer

    files = []
    for path in paths:
        try:
            files.append((path.name, path.read_bytes()))
        except OSError as exc:
            print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 1
    async with Database(settings.database) as db:
        storage = Storage(db)
        importer = Importer(storage)
        plan = await importer.plan_files(files)
        if not plan.ok:
            print(
                f"Import refused: {len(plan.problems)} problem(s); nothing was changed.",
                file=sys.stderr,
            )
            for p in plan.problems:
                print(f"  {p.render()}", file=sys.stderr)
            return 1
        print(describe_plan(plan))
        if dry_run or plan.empty:
            return 0
        await importer.apply(plan)
        print("Imported.")
    return 0


def describe_plan(plan) -> str:  # type: ignore[no-untyped-def]
    if plan.empty:
        return "No changes: the database already matches these files."
    lines = []
    if plan.cohorts_added or plan.cohorts_changed:
        lines.append(
            f"cohorts: {len(plan.cohorts_added)} added, {len(plan.cohorts_changed)} changed"
        )
    if plan.sessions:
        lines.append(
            f"sessions: {plan.count('added')} added, {plan.count('changed')} changed, "
            f"{plan.count('cancelled')} cancelled"
        )
    for change in plan.contacts:
        where = "shared" if change.cohort_code == "*" else change.cohort_code
        lines.append(
            f"contacts ({where}): {len(change.after)} in the list, "
            f"{change.added} added, {change.removed} removed"
        )
    return "\n".join(lines)


def invite(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    return asyncio.run(_invite(settings, args))


async def _invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services.invites import InviteService, invite_link
    from bot.storage.models import Role

    username = args.bot_username
    if not username:
        if not settings.token:
            print(
                "error: set TELEGRAM_BOT_TOKEN (to ask Telegram for the bot's username) "
                "or pass --bot-username",
                file=sys.stderr,
            )
            return 2
        from telegram import Bot

        async with Bot(settings.token, base_url=settings.base_url) as bot:
            username = bot.username
    if (args.uses is not None and args.uses < 1) or (args.days is not None and args.days < 1):
        print("error: --uses and --days must be positive", file=sys.stderr)
        return 2
    async with Database(settings.database) as db:
        storage = Storage(db)
        cohort = await storage.cohorts.by_code(args.cohort)
        if cohort is None:
            print(f"error: there is no cohort {args.cohort!r}", file=sys.stderr)
            return 1
        service = InviteService(storage, Clock(), settings.invite_days)
        created = await service.create(
            cohort, Role(args.role), None, days=args.days, max_uses=args.uses
        )
    print(invite_link(username, created.code))
    print(f"expires {created.expires_at:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 0
