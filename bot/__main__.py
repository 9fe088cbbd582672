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
import gc
import logging
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("bot")


async def run(settings: Settings) -> None:
    from bot.client import HailuoBot, start_up  # noqa: PLC0415
    from bot.errors import Stopped  # noqa: PLC0415

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
        collect_from_now_on()
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
            # Deep into a Discord outage the gateway task may be waiting out a reconnect
            # backoff of minutes; the client is closed, so nothing is lost by cutting it short.
            gateway.cancel()
            await asyncio.gather(gateway, return_exceptions=True)
    if bot.lost_hold:
        raise Stopped("another copy of the bot took this database over; this one stopped")


def collect_from_now_on() -> None:
    """The garbage collector back on, once start-up is over. Everything made until now (the
    modules, their classes, the bot) lives as long as the process: frozen, later collections
    never walk it again."""
    gc.freeze()
    gc.enable()


def main(argv: list[str] | None = None) -> int:
    from bot.errors import ConfigurationError, StartupFailed, Stopped  # noqa: PLC0415
    from bot.logs import configure_logging  # noqa: PLC0415
    from bot.release import version  # noqa: PLC0415
    from bot.settings import (  # noqa: PLC0415
        load_checked_settings,
        load_service_settings,
        load_store_settings,
        misspelt_settings,
        setup_warnings,
    )

    arguments = sys.argv[1:] if argv is None else argv
    if arguments:
        collect_from_now_on()  # a shell command may copy a whole database
        from bot.operations.cli import parser, run_cli  # noqa: PLC0415 - the shell needs no discord.py

        if arguments[0].startswith("-"):  # --help, --version: answered by the parser
            parser(version()).parse_args(arguments)
        if arguments[0] == "health":
            from bot.operations.probe import probe  # noqa: PLC0415

            parser(version()).parse_args(arguments)
            try:
                service = load_service_settings()
            except ConfigurationError as exc:
                print(f"hailuo-bot: {exc}", file=sys.stderr)
                return 2
            return probe(service)
        if arguments[0] == "check":
            from bot.operations.check import main as check  # noqa: PLC0415

            parser(version()).parse_args(arguments)  # --help, or a mistyped option
            return check(arguments[1:])
        try:
            store = load_store_settings()
        except ConfigurationError as exc:
            print(f"hailuo-bot: {exc}", file=sys.stderr)
            return 2
        for warning in misspelt_settings():
            print(f"hailuo-bot: warning: {warning}", file=sys.stderr)
        return asyncio.run(run_cli(arguments, store))
    from bot.money.pricing import check_prices  # noqa: PLC0415

    try:
        settings = load_checked_settings({"video_prices": check_prices})
    except ConfigurationError as exc:
        print(f"hailuo-bot cannot start: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level,
        [
            settings.discord_token.get_secret_value(),
            settings.apiframe_api_key.get_secret_value(),
            *settings.database_secrets,
            *(
                [settings.discord_client_secret.get_secret_value()]
                if settings.discord_client_secret
                else []
            ),
        ],
        settings.log_format,
    )
    # The first line names the release (and says so when nothing real will be made).
    if settings.apiframe_simulate:
        log.warning(
            "hailuo-bot %s starting; APIFRAME_SIMULATE is on: videos come from a simulator "
            "inside the bot, nothing is sent to Apiframe and nothing is billed (unset it to "
            "make real videos)",
            version(),
        )
    else:
        log.info("hailuo-bot %s starting", version())
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
    except Stopped as exc:
        log.error("hailuo-bot stopped: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    # Start-up makes hundreds of thousands of objects that live as long as the process and no
    # garbage worth collecting: the collector would walk them again and again for nothing
    # (about a tenth of the time to the first answer). Back on once the bot has started.
    gc.disable()
    sys.exit(main())
