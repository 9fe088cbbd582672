"""The owner's shell commands: `python -m bot credits|ledger|db ...`.

They work on the database file directly and need no Discord or Apiframe secrets, so they can run
beside the bot (SQLite serialises the writes) or while it is stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from bot.database import Database
from bot.guilds import SqliteGuildSettingsStore
from bot.integrity import BackupRefused, backup, verify
from bot.ledger import Ledger
from bot.reports import ledger_csv
from bot.settings import StoreSettings, settings_help
from bot.store.sqlite import SqliteLedgerStore

OWNER = 0  # the actor id recorded for changes made from the shell


def parser(version: str = "unknown") -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m bot",
        description="Run the hailuo-bot Discord bot (with no command), or manage its database.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"hailuo-bot {version}")
    groups = root.add_subparsers(
        dest="group", metavar="command", title="commands (none: run the bot)"
    )

    check = groups.add_parser("check", help="check the set-up without starting the bot")
    check.add_argument(
        "--offline", action="store_true", help="only the settings and the database (no network)"
    )

    balances = groups.add_parser("credits", help="show or change a member's credits")
    credit_actions = balances.add_subparsers(dest="action", required=True)
    for action, helptext in (
        ("show", "print the balance"),
        ("set", "set the balance"),
        ("add", "add (or, negative, remove) credits"),
    ):
        command = credit_actions.add_parser(action, help=helptext)
        command.add_argument("--guild", type=int, required=True, help="server id")
        command.add_argument("--member", type=int, required=True, help="member id")
        if action != "show":
            command.add_argument("amount", type=int)

    ledger = groups.add_parser("ledger", help="the credit ledger")
    ledger_actions = ledger.add_subparsers(dest="action", required=True)
    export = ledger_actions.add_parser("export", help="write a server's ledger as CSV")
    export.add_argument("--guild", type=int, required=True, help="server id")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")

    db = groups.add_parser("db", help="database checks and backups")
    db_actions = db.add_subparsers(dest="action", required=True)
    db_actions.add_parser("verify", help="check that balances, ledger and jobs agree")
    copy = db_actions.add_parser("backup", help="copy the database while the bot runs")
    copy.add_argument("path", type=Path)
    return root


WRITES: frozenset[tuple[str, str]] = frozenset({("credits", "set"), ("credits", "add")})


async def run_cli(argv: list[str], settings: StoreSettings, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    if args.group == "db" and args.action == "backup":
        try:
            await backup(settings.database_path, args.path)
        except BackupRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"backed up {settings.database_path} to {args.path}", file=out)
        return 0
    if not settings.database_path.exists():
        if (args.group, args.action) not in WRITES:
            print(
                f"error: no database at {settings.database_path} yet (set DATABASE_PATH, "
                "or start the bot once)",
                file=sys.stderr,
            )
            return 1
        # Setting credits before the bot's first start is fine: make the database now.
        print(f"creating the database at {settings.database_path}", file=sys.stderr)
    async with Database(settings.database_path) as database:
        if args.group == "credits":
            ledger = Ledger(database, settings.default_credits)
            if args.action == "show":
                stored = await ledger.stored_balance(args.guild, args.member)
                if stored is None:
                    guild = await SqliteGuildSettingsStore(database, settings.default_credits).get(
                        args.guild
                    )
                    print(
                        f"{guild.default_credits} (no account yet: this server's starting balance)",
                        file=out,
                    )
                else:
                    print(f"{stored}", file=out)
            elif args.action == "set":
                if args.amount < 0:
                    print("error: a balance cannot be negative", file=sys.stderr)
                    return 1
                change = await ledger.set_balance(args.guild, args.member, args.amount, OWNER)
                print(f"balance {change.balance} ({change.delta:+d})", file=out)
            else:
                change = await ledger.add_credits(args.guild, args.member, args.amount, OWNER)
                print(f"balance {change.balance} ({change.delta:+d})", file=out)
            return 0
        if args.group == "ledger":
            text = await ledger_csv(
                SqliteLedgerStore(database, settings.default_credits), args.guild
            )
            if args.out is None:
                out.write(text)
            else:
                args.out.write_text(text, encoding="utf-8")
                print(f"wrote {args.out}", file=out)
            return 0
        problems = await verify(database)
        for problem in problems:
            print(f"PROBLEM: {problem}", file=out)
        if problems:
            print(f"{len(problems)} problem(s) found", file=out)
            return 1
        print("ok: balances, ledger and jobs agree", file=out)
        return 0
