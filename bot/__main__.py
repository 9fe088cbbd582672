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
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import TYPE_CHECKING, Final

from bot.errors import ConfigurationError, StartupFailed
from bot.invite import invite_url
from bot.logs import configure_logging
from bot.settings import Settings, load_settings, load_store_settings, setup_warnings

if TYPE_CHECKING:
    from bot.app import HailuoBot

log = logging.getLogger("bot")

STARTUP_ATTEMPTS: Final = 4
STARTUP_BACKOFF: Final = 1.0
NETWORK_FIX: Final = "check this machine's network connection and DNS"


def version() -> str:
    try:
        return metadata.version("hailuo-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


async def with_retries(
    what: str,
    url: str,
    setting: str,
    attempt: Callable[[], Awaitable[None]],
    transient: tuple[type[BaseException], ...],
) -> None:
    """Run `attempt`, retrying transient network failures with backoff, then give up in one
    line naming `what` could not be reached at `url` and the setting to check."""
    for tries in range(1, STARTUP_ATTEMPTS + 1):
        try:
            await attempt()
            return
        except transient as exc:
            reason = str(exc) or type(exc).__name__
            if tries == STARTUP_ATTEMPTS:
                raise StartupFailed(
                    f"could not reach {what} at {url} after {tries} tries ({reason}): "
                    f"{NETWORK_FIX}, or {setting}"
                ) from None
            delay = STARTUP_BACKOFF * 2 ** (tries - 1)
            log.warning(
                "could not reach %s at %s (%s); trying again in %.0f s (%d of %d)",
                what,
                url,
                reason,
                delay,
                tries + 1,
                STARTUP_ATTEMPTS,
            )
            await asyncio.sleep(delay)


async def start_up(bot: HailuoBot, settings: Settings) -> None:
    """Everything before the gateway: database, Discord login, Apiframe account."""
    import aiohttp  # noqa: PLC0415 - a config error should not wait for these imports
    import discord  # noqa: PLC0415

    from bot.apiframe import ApiframeAuthError, ApiframeError  # noqa: PLC0415
    from bot.store.driver import StoreUnavailable  # noqa: PLC0415

    try:
        await bot.database.open()
    except StoreUnavailable as exc:
        raise StartupFailed(str(exc)) from None

    unreachable = (aiohttp.ClientConnectionError, OSError, TimeoutError)
    base = settings.discord_api_base_url.rstrip("/")

    async def reach_discord() -> None:
        # A plain request first: discord.py's login opens an HTTP session for good, so it is
        # tried once, when Discord is known to answer. Any HTTP answer means it is reachable.
        timeout = aiohttp.ClientTimeout(total=15)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{base}/gateway") as response,
        ):
            await response.read()

    await with_retries("Discord", base, "DISCORD_API_BASE_URL", reach_discord, unreachable)
    try:
        await bot.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        raise ConfigurationError(
            "Discord refused DISCORD_TOKEN: reset the bot's token in the Developer Portal (Bot "
            "tab) and set it again"
        ) from None
    except discord.HTTPException as exc:
        if bot.set_up:
            raise
        raise StartupFailed(
            f"Discord answered HTTP {exc.status} at {base}: check DISCORD_API_BASE_URL, or "
            "try again later"
        ) from None
    except unreachable as exc:
        if bot.set_up:  # raised by the set-up after login, not by the login
            raise StartupFailed(f"the bot could not finish setting up: {exc}") from None
        raise StartupFailed(
            f"could not reach Discord at {base} ({exc}): {NETWORK_FIX}, or DISCORD_API_BASE_URL"
        ) from None
    log.info("logged in to Discord; invite the bot with %s", invite_url(bot.application_id))

    apiframe_url = bot.apiframe.base_url
    try:
        me = await bot.apiframe.me()
    except ApiframeAuthError as exc:
        log.error(
            "Apiframe refused APIFRAME_API_KEY (HTTP %s): videos will fail until it is "
            "fixed; create a key in Apiframe's dashboard and set it again",
            exc.status,
        )
        return
    except ApiframeError as exc:
        raise StartupFailed(
            f"could not reach Apiframe at {apiframe_url} "
            f"({exc.message}): {NETWORK_FIX}, or APIFRAME_BASE_URL"
        ) from None
    team = me.get("team")
    credits_left = team.get("credits", "unknown") if isinstance(team, dict) else "unknown"
    log.info("Apiframe account ready: %s credits left", credits_left)


async def run(settings: Settings) -> None:
    from bot.app import HailuoBot  # noqa: PLC0415

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
        from bot.cli import parser, run_cli  # noqa: PLC0415 - the shell needs no discord.py

        if arguments[0].startswith("-"):  # --help, --version: answered by the parser
            parser(version()).parse_args(arguments)
        if arguments[0] == "check":
            from bot.check import main as check  # noqa: PLC0415

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
