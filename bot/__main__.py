"""`python -m bot`: run the bot until SIGINT or SIGTERM, then stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from bot.errors import ConfigurationError
from bot.logs import configure_logging
from bot.settings import Settings, load_settings, load_store_settings

log = logging.getLogger("bot")


async def run(settings: Settings) -> None:
    import discord  # noqa: PLC0415 - a config error should not wait for discord.py

    from bot.app import HailuoBot  # noqa: PLC0415

    bot = HailuoBot(settings)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
        stopper = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("shutting down: no new work, saving state")
        else:
            stopper.cancel()
        await bot.close()
        if runner in done:
            try:
                runner.result()  # surface a login failure or a crash
            except discord.LoginFailure:
                raise ConfigurationError("Discord refused DISCORD_TOKEN: reset the bot's token "
                                         "in the Developer Portal and set it again") from None
        else:
            await asyncio.gather(runner, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments:
        from bot.cli import run_cli  # noqa: PLC0415 - the shell commands need no discord.py

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
        [settings.discord_token.get_secret_value(), settings.apiframe_api_key.get_secret_value()],
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings))
    except ConfigurationError as exc:
        log.error("hailuo-bot cannot start: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
