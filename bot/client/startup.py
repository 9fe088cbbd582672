"""Everything before the gateway: the database, the HTTP port, Discord's login, the Apiframe
account. Each failure is one line naming what could not be reached and the setting to check;
network failures are retried a few times with backoff first, saying so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import aiohttp
import discord

from bot.apiframe.client import ApiframeAuthError, ApiframeError
from bot.client.bot import HailuoBot
from bot.errors import ConfigurationError, StartupFailed
from bot.operations.invite import invite_url
from bot.settings import Settings
from bot.store.driver import StoreUnavailable

log = logging.getLogger(__name__)

STARTUP_ATTEMPTS: Final = 4
STARTUP_BACKOFF: Final = 1.0
NETWORK_FIX: Final = "check this machine's network connection and DNS"


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
    try:
        await bot.services.open(on_hold_lost=bot._hold_lost)
    except StoreUnavailable as exc:
        raise StartupFailed(str(exc)) from None
    await bot.serve_http()  # a busy port is found now, before Discord hears of the bot

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

    apiframe = bot.services.apiframe
    apiframe_url = apiframe.base_url
    try:
        me = await apiframe.me()
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
