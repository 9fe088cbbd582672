"""Discord's OAuth2 authorization-code flow for "Login with Discord" (scopes `identify guilds`).

The person is sent to Discord's consent page with a `state` that only their session knows;
Discord sends them back with a code, which is exchanged (with the application's secret, over
TLS, never in a URL) for a token that reads who they are and which servers they are in. The
token is used at once and not kept: what the dashboard may show is decided on every request
from the bot's own view of the member, not from this login-time list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp

from bot.errors import HailuoBotError
from bot.settings import Secret

SCOPES: Final = "identify guilds"
MANAGE_GUILD: Final = 1 << 5
ADMINISTRATOR: Final = 1 << 3
# The whole login's requests to Discord, together: a page waits no longer than this.
TIMEOUT: Final = aiohttp.ClientTimeout(total=10)
# When Discord says to wait and does not say how long.
DEFAULT_WAIT: Final = 60.0


class LoginFailed(HailuoBotError):
    """Discord did not confirm who is logging in (a refused code, an outage)."""


class LoginThrottled(LoginFailed):
    """Discord answered 429 to the login: nothing more is sent for `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Discord asked the bot to wait {retry_after:.0f} s (HTTP 429)")
        self.retry_after = retry_after


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds Discord asked to wait (its Retry-After), or a minute when it did not say."""
    try:
        return max(1.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return DEFAULT_WAIT


@dataclass(frozen=True, slots=True)
class DiscordUser:
    id: int
    name: str
    locale: str | None
    # Servers where, at login, Discord said the person may manage the server.
    managed_guilds: frozenset[int]


class OAuthClient:
    """Discord's authorize page, token endpoint and the two reads the login needs."""

    def __init__(
        self,
        api_base: str,
        client_id: Callable[[], int | None],
        client_secret: Secret,
        redirect_uri: str,
    ) -> None:
        self._api = api_base.rstrip("/")
        # The consent page lives on Discord's site, beside (not under) its API.
        self._site = self._api.rsplit("/api", 1)[0]
        self._client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri

    def authorize_url(self, state: str) -> str:
        query = urlencode(
            {
                "client_id": self._client_id() or "",
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "scope": SCOPES,
                "state": state,
                "prompt": "none",
            }
        )
        return f"{self._site}/oauth2/authorize?{query}"

    @property
    def site(self) -> str:
        return self._site

    async def user_for(self, code: str) -> DiscordUser:
        """Who logged in, from the code Discord sent back; `LoginFailed` otherwise."""
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                async with session.post(
                    f"{self._api}/oauth2/token",
                    data={
                        "client_id": str(self._client_id() or ""),
                        "client_secret": self._secret.get_secret_value(),
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": self.redirect_uri,
                    },
                ) as answer:
                    if answer.status == 429:
                        raise LoginThrottled(retry_after(answer.headers))
                    if answer.status != 200:
                        raise LoginFailed(f"Discord refused the login code (HTTP {answer.status})")
                    token = (await answer.json(content_type=None)).get("access_token")
                if not isinstance(token, str):
                    raise LoginFailed("Discord gave no access token")
                headers = {"Authorization": f"Bearer {token}"}
                me = await _json(session, f"{self._api}/users/@me", headers)
                guilds = await _json(session, f"{self._api}/users/@me/guilds", headers)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LoginFailed(f"could not reach Discord ({type(exc).__name__})") from None
        if not isinstance(me, dict) or not isinstance(guilds, list):
            raise LoginFailed("Discord answered in an unexpected shape")
        managed = frozenset(
            int(guild["id"])
            for guild in guilds
            if isinstance(guild, dict) and _manages(guild.get("permissions"))
        )
        name = me.get("global_name") or me.get("username") or str(me.get("id"))
        locale = me.get("locale")
        return DiscordUser(
            int(me["id"]), str(name), locale if isinstance(locale, str) else None, managed
        )


async def _json(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with session.get(url, headers=headers) as answer:
        if answer.status == 429:
            raise LoginThrottled(retry_after(answer.headers))
        if answer.status != 200:
            raise LoginFailed(f"Discord refused a read of the login (HTTP {answer.status})")
        return await answer.json(content_type=None)


def _manages(permissions: object) -> bool:
    try:
        bits = int(str(permissions))
    except ValueError:
        return False
    return bool(bits & (MANAGE_GUILD | ADMINISTRATOR))
