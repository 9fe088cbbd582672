"""The owner's shell commands: `python -m bot credits|wallet|ledger|dashboard|servers|db ...`.

They work on the database directly (the SQLite file, or PostgreSQL when DATABASE_URL names it)
and need no Discord or Apiframe secrets, so they can run beside the bot (each change is one
transaction, like the bot's own), while it is stopped, or before its first start (the database
is created and migrated as the bot would). Every mistake is one line on stderr that names the
fix: exit code 2 for a command typed wrong, 1 for one that could not be done.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TextIO
from urllib.parse import urlsplit

from bot.money.economy import MAX_BUDGET, ServerBook
from bot.money.ledger import Ledger
from bot.money.rules import MAX_AMOUNT
from bot.money.servers import ServerSettings
from bot.money.wallet import CreditPacks, Wallets
from bot.operations.owners import known_owners, owner_policy
from bot.operations.reports import ledger_csv_pages
from bot.settings import StoreSettings, settings_help
from bot.store import Stores, stores_for
from bot.store.copy import CopyRefused, copy_to_postgres
from bot.store.driver import StoreUnavailable
from bot.store.postgres import PostgresDatabase, redacted
from bot.store.sqlite import BackupRefused, SqliteDatabase, backup

OWNER = 0  # the actor id recorded for changes made from the shell
PROGRAM = "python -m bot"
# Discord ids are snowflakes: positive, and within 64 signed bits.
LARGEST_ID = 2**63 - 1
BACKUPS = "backups"
SERVERS_A_PAGE = 500


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming the fix (not a usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def discord_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value <= LARGEST_ID:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Discord id: a number of up to 19 digits (in Discord, turn on "
            "Developer Mode, then right-click the server or member and Copy ID)"
        )
    return value


def credit_amount(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = MAX_AMOUNT + 1
    if not -MAX_AMOUNT <= value <= MAX_AMOUNT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an amount of credits: a whole number from {-MAX_AMOUNT:,} to "
            f"{MAX_AMOUNT:,}"
        )
    return value


def gift_amount(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value <= MAX_AMOUNT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a gift: a whole number of credits from 1 to {MAX_AMOUNT:,}"
        )
    return value


def budget_amount(text: str) -> int | None:
    """A server's budget as typed: a whole number of credits, or `unlimited` (None)."""
    if text.strip().lower() == "unlimited":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_BUDGET:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a budget: a whole number of credits from 0 to {MAX_BUDGET:,}, or "
            "unlimited"
        )
    return value


def parser(version: str = "unknown") -> argparse.ArgumentParser:
    root = OneLineParser(
        prog=PROGRAM,
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

    groups.add_parser(
        "health", help="ask the running bot's /readyz (exit 0 when ready): for HEALTHCHECK"
    )

    balances = groups.add_parser("credits", help="show or change a member's credits")
    credit_actions = balances.add_subparsers(dest="action", required=True)
    for action, helptext in (
        ("show", "print the balance"),
        ("set", "set the balance"),
        ("add", "add (or, negative, remove) credits"),
    ):
        command = credit_actions.add_parser(action, help=helptext)
        command.add_argument("--guild", type=discord_id, required=True, help="server id")
        command.add_argument("--member", type=discord_id, required=True, help="member id")
        if action != "show":
            command.add_argument("amount", type=credit_amount)

    ledger = groups.add_parser("ledger", help="the credit ledger")
    ledger_actions = ledger.add_subparsers(dest="action", required=True)
    export = ledger_actions.add_parser("export", help="write a server's ledger as CSV")
    export.add_argument("--guild", type=discord_id, required=True, help="server id")
    export.add_argument(
        "--out", type=Path, help="a new file to write (default: standard output); never replaced"
    )

    dashboard = groups.add_parser("dashboard", help="the admin dashboard's sessions")
    dashboard_actions = dashboard.add_subparsers(dest="action", required=True)
    dashboard_actions.add_parser("sessions", help="list who is logged in, and until when")
    logout = dashboard_actions.add_parser(
        "logout", help="end someone's dashboard sessions (or everyone's) at once"
    )
    whose = logout.add_mutually_exclusive_group(required=True)
    whose.add_argument("--member", type=discord_id, help="whose sessions (a Discord user id)")
    whose.add_argument("--all", action="store_true", help="everyone's sessions")

    wallet = groups.add_parser("wallet", help="a member's own wallet: show it, or give credits")
    wallet_actions = wallet.add_subparsers(dest="action", required=True)
    shown = wallet_actions.add_parser("show", help="the balance and the latest moves")
    shown.add_argument("--member", type=discord_id, required=True, help="member id")
    gift = wallet_actions.add_parser("add", help="give the member credits (a gift)")
    gift.add_argument("--member", type=discord_id, required=True, help="member id")
    gift.add_argument("amount", type=gift_amount)
    gift.add_argument("--reason", default="", help="shown to the member in /wallet")

    servers = groups.add_parser(
        "servers", help="the servers: this month's spend, budgets, approvals (the owner's say)"
    )
    server_actions = servers.add_subparsers(dest="action", required=True)
    server_actions.add_parser(
        "list", help="every server: this month's spend against its budget, and its approval"
    )
    budget = server_actions.add_parser("budget", help="set a server's monthly budget")
    budget.add_argument("--guild", type=discord_id, required=True, help="server id")
    budget.add_argument(
        "amount",
        type=budget_amount,
        help="credits a month out of what its admins hand out, or unlimited",
    )
    approve = server_actions.add_parser("approve", help="let a server that waits use the bot")
    approve.add_argument("--guild", type=discord_id, required=True, help="server id")

    db = groups.add_parser("db", help="database checks and backups")
    db_actions = db.add_subparsers(dest="action", required=True)
    db_actions.add_parser("verify", help="check that balances, ledger and jobs agree")
    copy = db_actions.add_parser("backup", help="copy the SQLite database while the bot runs")
    copy.add_argument(
        "path",
        type=Path,
        nargs="?",
        help=f"a new file (default: {BACKUPS}/hailuo-<date and time>.sqlite3 beside the database)",
    )
    move = db_actions.add_parser(
        "copy", help="copy the SQLite database into an empty PostgreSQL database, then verify it"
    )
    move.add_argument(
        "--to",
        metavar="URL",
        help="postgresql://user@host/db, without a password (default: COPY_TO_DATABASE_URL, "
        "where a password belongs)",
    )
    return root


def fail(message: str) -> int:
    print(f"hailuo-bot: {message}", file=sys.stderr)
    return 1


def default_backup(database: Path) -> Path:
    """A new file in the backups folder beside the database (on the Docker image's volume,
    where the container's user may write), named by the time."""
    folder = database.parent / BACKUPS
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"hailuo-{datetime.now(UTC):%Y-%m-%d-%H%M%S}.sqlite3"


def changes(args: argparse.Namespace) -> bool:
    """Whether the command writes (and so may make a database before the bot's first start)."""
    return args.group in ("credits", "wallet") and args.action in ("set", "add")


async def run_cli(argv: list[str], settings: StoreSettings, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    try:
        return await _run_cli(args, settings, out)
    except PermissionError as exc:
        # A folder this user may not enter or read (the bot's data, run as another user).
        where = exc.filename or settings.sqlite_path
        return fail(
            f"cannot read {where}: permission denied for this user ({_user()}): run the command "
            "as the user that runs the bot, or give this one access to the folder"
        )


def _user() -> str:
    import getpass  # noqa: PLC0415 - only for this message

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


async def _run_cli(args: argparse.Namespace, settings: StoreSettings, out: TextIO) -> int:
    if args.group == "db" and args.action == "backup":
        if settings.on_postgres:
            return fail(
                "db backup copies a SQLite file; back PostgreSQL up with its own tools "
                "(pg_dump, or your provider's backups)"
            )
        if not settings.sqlite_path.is_file():
            return fail(
                f"there is no database at {settings.sqlite_path} yet (set DATABASE_PATH, or "
                "start the bot once)"
            )
        try:
            target = args.path or default_backup(settings.sqlite_path)
            await backup(settings.sqlite_path, target)
        except BackupRefused as exc:
            return fail(str(exc))
        except OSError as exc:
            return fail(f"cannot make {exc.filename}: {exc.strerror}")
        print(f"backed up {settings.sqlite_path} to {target}", file=out)
        return 0
    if args.group == "db" and args.action == "copy":
        return await copy_database(settings, args.to, out)
    if args.group == "ledger" and args.out is not None:
        problem = unwritable(args.out)
        if problem is not None:
            return fail(problem)
    if not settings.on_postgres and not settings.sqlite_path.exists():
        if not changes(args):
            # Nothing to read in a database that is not there: no empty one is made for it.
            return fail(
                f"there is no database at {settings.sqlite_path}: run the command in the "
                "bot's folder, or set DATABASE_PATH to its database"
            )
        # Before the bot's first start: make the database now, as the bot would.
        print(
            f"creating a new database at {settings.sqlite_path}: no data yet (if the bot has "
            "run before, it kept its data elsewhere: check DATABASE_PATH and the folder)",
            file=sys.stderr,
        )
    stores = stores_for(settings)
    try:
        await stores.database.open()
    except StoreUnavailable as exc:
        return fail(str(exc))
    try:
        return await _run(args, stores, settings, out)
    finally:
        await stores.database.close()


async def _run(
    args: argparse.Namespace, stores: Stores, settings: StoreSettings, out: TextIO
) -> int:
    if args.group == "credits":
        ledger = Ledger(stores.ledger)
        if args.action == "show":
            stored = await ledger.stored_balance(args.guild, args.member)
            if stored is None:
                guild = await ServerSettings(stores.guilds).get(args.guild)
                print(
                    f"{guild.default_credits} (no account yet: this server's starting balance)",
                    file=out,
                )
            else:
                print(f"{stored}", file=out)
        elif args.action == "set":
            if args.amount < 0:
                return fail(f"a balance cannot be negative: give 0 to {MAX_AMOUNT:,}")
            change = await ledger.set_balance(args.guild, args.member, args.amount, OWNER)
            print(f"balance {change.balance} ({change.delta:+d})", file=out)
        else:
            change = await ledger.add_credits(args.guild, args.member, args.amount, OWNER)
            print(f"balance {change.balance} ({change.delta:+d})", file=out)
        return 0
    if args.group == "ledger":
        if args.out is None:
            async for page in ledger_csv_pages(stores.ledger, args.guild):
                out.write(page)
            return 0
        try:
            # "x": a file that appeared since the check is not replaced either.
            with args.out.open("x", encoding="utf-8", newline="") as file:
                async for page in ledger_csv_pages(stores.ledger, args.guild):
                    file.write(page)
        except FileExistsError:
            return fail(f"{args.out} exists already: choose a new name (it is never replaced)")
        except OSError as exc:
            return fail(f"cannot write {args.out}: {exc.strerror}")
        print(f"wrote {args.out}", file=out)
        return 0
    if args.group == "dashboard":
        return await _dashboard(args, stores, out)
    if args.group == "servers":
        return await _servers(args, stores, settings, out)
    if args.group == "wallet":
        return await _wallet(args, stores, out)
    return report(await stores.ledger.disagreements(), out)


async def _dashboard(args: argparse.Namespace, stores: Stores, out: TextIO) -> int:
    if args.action == "sessions":
        sessions = await stores.dashboard.open_sessions(datetime.now(UTC))
        for user_id, since, until in sessions:
            print(
                f"{user_id}  since {since:%Y-%m-%d %H:%M} UTC, until {until:%Y-%m-%d %H:%M} UTC",
                file=out,
            )
        print(f"{len(sessions)} session(s) open", file=out)
        return 0
    ended = await stores.dashboard.end_for(None if args.all else args.member)
    print(f"ended {ended} session(s): their cookies no longer open the dashboard", file=out)
    return 0


async def _wallet(args: argparse.Namespace, stores: Stores, out: TextIO) -> int:
    wallets = Wallets(stores.wallets, CreditPacks({}))
    if args.action == "add":
        balance = await wallets.gift(args.member, args.amount, OWNER, args.reason.strip()[:200])
        print(f"wallet {balance} (+{args.amount})", file=out)
        return 0
    print(f"wallet {await wallets.balance(args.member)}", file=out)
    for move in await wallets.history(args.member, 20):
        extra = f" ({move.shortfall} short)" if move.shortfall else ""
        print(
            f"{move.created_at:%Y-%m-%d %H:%M} UTC  {move.kind.value:<16} {move.delta:+6d} "
            f"→ {move.balance_after}{extra}  {move.reason}",
            file=out,
        )
    return 0


async def _servers(
    args: argparse.Namespace, stores: Stores, settings: StoreSettings, out: TextIO
) -> int:
    # The owners Discord named at the bot's last start: their own servers have no budget.
    book = ServerBook(stores.servers, owner_policy(settings, await known_owners(stores.state)))
    if args.action == "list":
        return await _list_servers(book, out)
    server = await book.get(args.guild)
    if server is None or server.left_at is not None:
        return fail(
            f"the bot is not in a server with the id {args.guild}: see `{PROGRAM} servers list`"
        )
    if args.action == "approve":
        await book.approve(server.guild_id, OWNER)
        print(f"approved {server.name} ({server.guild_id}): its members can make videos", file=out)
        return 0
    changed = await book.set_budget(
        server.guild_id, args.amount, OWNER, unlimited=args.amount is None
    )
    assert changed is not None
    budget = book.budget(changed)
    said = "unlimited" if budget is None else f"{budget} credits a month"
    print(f"{changed.name} ({changed.guild_id}): budget {said}", file=out)
    return 0


async def _list_servers(book: ServerBook, out: TextIO) -> int:
    limit = book.policy.monthly_limit
    spent = await book.month_spent()
    of_limit = f" of the {limit}-credit MONTHLY_SPEND_LIMIT" if limit is not None else ""
    print(f"all servers this month: {spent} credits{of_limit}", file=out)
    print(f"{'server id':<20}  {'spent/budget':>16}  {'members':>7}  {'state':<8}  name", file=out)
    page, shown = 0, 0
    while True:
        rows, total = await book.table(page=page, size=SERVERS_A_PAGE)
        for use in rows:
            budget = book.budget(use.server)
            spend = f"{use.spent}/{'unlimited' if budget is None else budget}"
            state = "waiting" if book.waiting(use.server) else "approved"
            print(
                f"{use.server.guild_id:<20}  {spend:>16}  {use.members:>7}  {state:<8}  "
                f"{use.server.name}",
                file=out,
            )
        shown += len(rows)
        page += 1
        if not rows or shown >= total:
            break
    print(f"{shown} server(s)", file=out)
    return 0


def unwritable(path: Path) -> str | None:
    """Why a new file cannot be written at `path`, before any work is done."""
    if path.exists():
        return f"{path} exists already: choose a new name (it is never replaced)"
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist: create it, or choose another path"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable by this user: choose another path"
    return None


def report(problems: list[str], out: TextIO) -> int:
    for problem in problems:
        print(f"PROBLEM: {problem}", file=out)
    if problems:
        print(f"{len(problems)} problem(s) found", file=out)
        return 1
    print("ok: balances, ledger and jobs agree", file=out)
    return 0


async def copy_database(settings: StoreSettings, given: str | None, out: TextIO) -> int:
    """`db copy`: the configured SQLite database into an empty PostgreSQL one, named by
    COPY_TO_DATABASE_URL (or by `--to`, when its URL holds no password)."""
    if settings.on_postgres:
        return fail("db copy reads a SQLite database: unset DATABASE_URL (or point it at one)")
    if given is not None and urlsplit(given).password:
        # The command line stays in the shell's history and the list of processes.
        return fail(
            "--to carries a password, which would stay in your shell history and the list of "
            "processes: put the URL in COPY_TO_DATABASE_URL instead (a line of .env, or "
            "exported) and run `python -m bot db copy`"
        )
    secret = settings.copy_to_database_url
    url = given if given is not None else (None if secret is None else secret.get_secret_value())
    if url is None:
        return fail(
            "say where to copy to: set COPY_TO_DATABASE_URL=postgresql://user:password@host/db "
            "(a line of .env, or exported), then run `python -m bot db copy`"
        )
    if not url.lower().startswith(("postgresql://", "postgres://")):
        return fail("the target must be a postgresql:// URL (COPY_TO_DATABASE_URL or --to)")
    if not settings.sqlite_path.exists():
        return fail(f"no database at {settings.sqlite_path} to copy")
    target = PostgresDatabase(url)
    try:
        await target.open()
    except StoreUnavailable as exc:
        return fail(str(exc))
    try:
        async with SqliteDatabase(settings.sqlite_path) as source:
            copied = await copy_to_postgres(source, target)
    except CopyRefused as exc:
        return fail(str(exc))
    finally:
        await target.close()
    for table, rows in copied.rows.items():
        print(f"{table}: {rows} row(s)", file=out)
    print(f"copied {settings.sqlite_path} to {redacted(url)}", file=out)
    return report(copied.problems, out)
