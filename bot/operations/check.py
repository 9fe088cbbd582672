"""`python -m bot check`: the set-up checked piece by piece, without starting the bot.

One line per check, ✔ or ✖, and the exit code is 0 only when all pass. `--offline` checks only
what needs no network: the settings, the database and the message catalogues. No secret is ever
printed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TextIO

import aiohttp

from bot.apiframe.client import ApiframeAuthError, ApiframeClient, ApiframeError, RetryPolicy
from bot.clock import utc_now
from bot.errors import ConfigurationError
from bot.i18n import ENGLISH, catalogues
from bot.money.pricing import check_prices
from bot.operations.hold import described
from bot.operations.invite import invite_url
from bot.operations.probe import readyz_url
from bot.settings import (
    Settings,
    StoreSettings,
    load_checked_settings,
    load_store_settings,
    setup_warnings,
)
from bot.store import stores_for
from bot.store.driver import StoreUnavailable

PASSED: Final = "✔"
FAILED: Final = "✖"
TIMEOUT: Final = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True, slots=True)
class Outcome:
    passed: bool
    text: str


Check = Callable[[Settings], Awaitable[list[Outcome]]]
# The checks that need no secret: they run even when the settings are not complete.
OfflineCheck = Callable[[StoreSettings], Awaitable[list[Outcome]]]


async def check_database(settings: StoreSettings) -> list[Outcome]:
    """The database opens, migrates, and its balances and ledger agree; whether a copy of the
    bot runs on it now. A SQLite file that is not there yet is not made here: a wrong folder
    or DATABASE_PATH must not look like a database."""
    if not settings.on_postgres and not settings.sqlite_path.exists():
        return [
            Outcome(
                True,
                f"database at {settings.sqlite_path}: none yet, the first start makes it (if "
                "the bot has run before, this is not its database: check DATABASE_PATH and the "
                "folder you run it from)",
            )
        ]
    stores = stores_for(settings)
    path = stores.where
    try:
        await stores.database.open()
        try:
            problems = await stores.ledger.disagreements()
            holds = await stores.holds.live(utc_now())
        finally:
            await stores.database.close()
    except StoreUnavailable as exc:
        return [Outcome(False, str(exc))]
    if problems:
        return [
            Outcome(
                False,
                f"database at {path}: {len(problems)} problem(s), the first: "
                f"{problems[0]} (run `python -m bot db verify`)",
            )
        ]
    state = (
        "a new database, no data yet (if the bot has run before, this is not its database)"
        if stores.database.created
        else "opened, migrated, balances and ledger agree"
    )
    outcomes = [Outcome(True, f"database at {path}: {state}")]
    outcomes += [
        Outcome(True, f"the bot is running on it ({hold.scope}: {described(hold)})")
        for hold in holds
    ]
    return outcomes


async def check_http_port(settings: StoreSettings) -> list[Outcome]:
    """The HTTP server's port is free: found here, not after the bot has logged in."""
    if not settings.http_port:
        return [Outcome(True, "HTTP server: off (HTTP_PORT=0)")]
    where = f"{settings.http_host}:{settings.http_port}"
    try:
        await asyncio.to_thread(bind_test, settings.http_host, settings.http_port)
    except OSError as exc:
        if await bot_answers(settings):
            return [Outcome(True, f"HTTP server: {where} is the running bot's")]
        return [
            Outcome(
                False,
                f"cannot listen on {where} ({exc.strerror or exc}): is the bot already "
                "running? Else set HTTP_PORT to a free port, or 0 to turn the HTTP server off",
            )
        ]
    return [Outcome(True, f"HTTP server: {where} is free")]


async def bot_answers(settings: StoreSettings) -> bool:
    """Whether the port is busy because this bot is already running on it."""
    url = readyz_url(settings).removesuffix("/readyz") + "/healthz"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
            session.get(url) as response,
        ):
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return response.status == 200 and isinstance(body, dict) and body.get("status") == "ok"


def bind_test(host: str, port: int) -> None:
    """Bind and let go, as aiohttp would bind (address reuse on, so a port in TIME_WAIT is
    free, as it is for the bot)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        probe.listen(1)


async def check_languages(settings: StoreSettings) -> list[Outcome]:
    """The message catalogues shipped with the bot are there and readable."""
    try:
        books = catalogues()
    except (OSError, ValueError) as exc:
        return [Outcome(False, f"languages: the message catalogues cannot be read ({exc})")]
    others = [code for code in books.codes if code != ENGLISH]
    if not others:
        return [Outcome(False, "languages: no message catalogue found besides English")]
    sizes = ", ".join(f"{code} ({len(books[code].keys)} messages)" for code in others)
    return [Outcome(True, f"languages: English, {sizes}")]


async def check_discord(settings: Settings) -> list[Outcome]:
    base = settings.discord_api_base_url.rstrip("/")
    headers = {"Authorization": f"Bot {settings.discord_token.get_secret_value()}"}
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT, headers=headers) as session:
            async with session.get(f"{base}/users/@me") as response:
                if response.status == 401:
                    return [
                        Outcome(
                            False,
                            "Discord refused DISCORD_TOKEN: reset the token in "
                            "the Developer Portal (Bot tab) and set it again",
                        )
                    ]
                if response.status != 200:
                    return [Outcome(False, f"Discord answered HTTP {response.status} at {base}")]
                user = await response.json(content_type=None)
            async with session.get(f"{base}/oauth2/applications/@me") as response:
                application = await response.json(content_type=None)
            application_id = application.get("id") if isinstance(application, dict) else None
            skus: object = []
            if application_id is not None:
                async with session.get(f"{base}/applications/{application_id}/skus") as response:
                    skus = await response.json(content_type=None) if response.status == 200 else []
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return [
            Outcome(
                False,
                f"could not reach Discord at {base} ({type(exc).__name__}): "
                "check the network, or DISCORD_API_BASE_URL",
            )
        ]
    name = user.get("username", "?") if isinstance(user, dict) else "?"
    return [
        Outcome(
            True, f"Discord accepts DISCORD_TOKEN: the bot is {name}, application {application_id}"
        ),
        Outcome(True, f"invite it with {invite_url(application_id)}"),
        *pack_outcomes(settings.credit_pack_map, skus if isinstance(skus, list) else []),
    ]


CONSUMABLE: Final = 3


def pack_outcomes(packs: dict[int, int], skus: list[object]) -> list[Outcome]:
    """The application's SKUs beside CREDIT_PACKS: which packs are sold, and which name no
    consumable SKU of the application (Discord would never report a purchase of those)."""
    known = {
        int(sku["id"]): (str(sku.get("name", "?")), sku.get("type"))
        for sku in skus
        if isinstance(sku, dict) and str(sku.get("id", "")).isdigit()
    }
    listed = ", ".join(
        f"{name} ({sku}{'' if kind == CONSUMABLE else ', not consumable'})"
        for sku, (name, kind) in known.items()
    )
    if not packs:
        if not known:
            return []
        return [
            Outcome(
                True,
                f"store: the application sells {listed}; CREDIT_PACKS is unset, so no "
                "credits are sold",
            )
        ]
    outcomes = []
    for sku, credits_given in packs.items():
        found = known.get(sku)
        if found is not None and found[1] == CONSUMABLE:
            outcomes.append(
                Outcome(True, f"credit pack: {found[0]} ({sku}) gives {credits_given} credits")
            )
        else:
            why = "not consumable" if found is not None else "none of the application's SKUs"
            outcomes.append(
                Outcome(
                    False,
                    f"CREDIT_PACKS names SKU {sku}, which is {why}: create a consumable SKU in "
                    "the Developer Portal (Monetization) and use its id"
                    + (f" (the application's SKUs: {listed})" if listed else ""),
                )
            )
    return outcomes


async def check_apiframe(settings: Settings) -> list[Outcome]:
    if settings.apiframe_simulate:
        return [Outcome(True, "Apiframe: simulated (APIFRAME_SIMULATE is on): nothing is billed")]
    base = settings.apiframe_base_url
    async with ApiframeClient(
        base, settings.apiframe_api_key, timeout=15, retry=RetryPolicy(attempts=2)
    ) as client:
        try:
            me = await client.me()
        except ApiframeAuthError as exc:
            return [
                Outcome(
                    False,
                    f"Apiframe refused APIFRAME_API_KEY (HTTP {exc.status}): "
                    "create a key in Apiframe's dashboard and set it again",
                )
            ]
        except ApiframeError as exc:
            return [
                Outcome(
                    False,
                    f"could not reach Apiframe at {base} ({exc.message}): check "
                    "the network, or APIFRAME_BASE_URL",
                )
            ]
    team = me.get("team")
    balance = team.get("credits", "unknown") if isinstance(team, dict) else "unknown"
    return [Outcome(True, f"Apiframe accepts APIFRAME_API_KEY: {balance} credits left")]


async def check_webhook(settings: Settings) -> list[Outcome]:
    url = settings.apiframe_webhook_url
    if url is None:
        return []
    if not settings.http_port:
        return [
            Outcome(False, "APIFRAME_WEBHOOK_URL is set but HTTP_PORT=0 turns the HTTP server off")
        ]
    body = json.dumps(
        {"event": "check", "jobId": "hailuo-bot-check", "status": "PROCESSING"}
    ).encode()
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Webhook-Signature": "sha256=" + "0" * 64,
                },
            ) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return [
            Outcome(
                False,
                f"webhook URL {url} is not reachable from here "
                f"({type(exc).__name__}): is the bot running behind the proxy?",
            )
        ]
    if status != 401:
        return [
            Outcome(
                False,
                f"webhook URL {url} answered HTTP {status} to a bad signature, "
                "not 401: does the proxy reach this bot's /apiframe/webhook?",
            )
        ]
    return [Outcome(True, f"webhook URL {url} reaches the bot and refuses a bad signature")]


async def run_check(
    *, offline: bool, out: TextIO = sys.stdout, settings: Settings | None = None
) -> int:
    passed = True
    offline_checks: list[OfflineCheck] = [check_database, check_http_port, check_languages]
    if settings is None:
        try:
            settings = load_checked_settings({"video_prices": check_prices})
        except ConfigurationError as exc:
            # What needs no secret is checked all the same (the database, the port, the
            # words), and the settings' line comes last, as the one to act on.
            try:
                store = load_store_settings()
            except ConfigurationError:
                store = None
            if store is not None:
                for check in offline_checks:
                    for outcome in await check(store):
                        print(f"{PASSED if outcome.passed else FAILED} {outcome.text}", file=out)
            print(f"{FAILED} settings: {exc}", file=out)
            return 1
    print(f"{PASSED} settings: read", file=out)
    for warning in setup_warnings(settings):
        print(f"  warning: {warning}", file=out)
    if settings.apiframe_simulate:
        print("  note: APIFRAME_SIMULATE is on: nothing is sent to Apiframe or billed", file=out)
    online: list[Check] = [] if offline else [check_discord, check_apiframe, check_webhook]
    outcomes = [outcome for check in offline_checks for outcome in await check(settings)]
    for check_online in online:
        outcomes += await check_online(settings)
    for outcome in outcomes:
        passed &= outcome.passed
        print(f"{PASSED if outcome.passed else FAILED} {outcome.text}", file=out)
    return 0 if passed else 1


def main(arguments: list[str]) -> int:
    return asyncio.run(run_check(offline="--offline" in arguments))
