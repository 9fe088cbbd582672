"""`python -m bot`: run the bot until SIGINT or SIGTERM, then stop cleanly; or, with a command,
one of the owner's shell commands (`python -m bot --help` lists both, and every setting).

Start-up goes in an order that makes each mistake show up alone, as one line: the settings, then
the database (created and migrated before anything is connected, so the shell commands work
before a first start), then Discord's REST API (the token), then Apiframe (the key), then
Discord's gateway. Network failures are retried a few times with backoff, saying so, before the
bot gives up naming what it tried to reach and the likely fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from importlib import metadata

from bot.errors import ConfigurationError, StartupFailed
from bot.logs import configure_logging
from bot.settings import Settings, load_settings, load_store_settings, setup_warnings

log = logging.getLogger("bot")


def version() -> str:
    try:
        return metadata.version("hailuo-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


async def run(settings: Settings) -> None:
    from bot.app import HailuoBot, start_up  # noqa: PLC0415

    bot = HailuoBot(settings)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    async with bot:
        setup = asyncio.create_task(start_up(bot, settings))
        stopper = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait({setup, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            setup.cancel()
            await asyncio.gather(setup, return_exceptions=True)
            log.info("shutting down before start-up finished")
            await bot.close()
            return
        try:
            setup.result()
        except BaseException:
            stopper.cancel()
            await bot.close()
            raise
        gateway = asyncio.create_task(bot.connect())
        done, _ = await asyncio.wait({gateway, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("shutting down: no new work, saving state")
        else:
            stopper.cancel()
        await bot.close()
        if gateway in done:
            gateway.result()  # surface a crash
        else:
            await asyncio.gather(gateway, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments:
        from bot.service.cli import parser, run_cli  # noqa: PLC0415 - the shell needs no discord.py

        if arguments[0].startswith("-"):  # --help, --version: answered by the parser
            parser(version()).parse_args(arguments)
        if arguments[0] == "check":
            from bot.service.check import main as check  # noqa: PLC0415

            parser(version()).parse_args(arguments)  # --help, or a mistyped option
            return check(arguments[1:])
        try:
            store = load_store_settings()
        except ConfigurationError as exc:
            print(f"hailuo-bot: {exc}", file=sys.stderr)
            return 2
        return asyncio.run(run_cli(arguments, store))
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"hailuo-bot cannot start: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level,
        [
            settings.discord_token.get_secret_value(),
            settings.apiframe_api_key.get_secret_value(),
            *settings.database_secrets,
        ],
        settings.log_format,
    )
    for warning in setup_warnings(settings):
        log.warning("%s", warning)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings))
    except ConfigurationError as exc:
        log.error("hailuo-bot cannot start: %s", exc)
        return 2
    except StartupFailed as exc:
        log.error("hailuo-bot cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
