"""The bot's configuration, read once from the environment or a `.env` file.

Every mistake becomes one line naming the setting and the fix (`ConfigurationError`), and none
of those lines ever repeats a secret: a database URL that cannot be read is described, not
quoted. All of them are listed at once, so that an owner fixes a `.env` in one go.

The settings are msgspec structs: msgspec checks each value's type and limits, and loads in a
few milliseconds. The settings are the first thing every start reads, before discord.py is
imported, so their library's import time is paid on every restart.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import SplitResult, urlsplit

import msgspec
from dotenv import dotenv_values
from msgspec import Meta

from bot.errors import ConfigurationError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Port = Annotated[int, Meta(ge=0, le=65535)]
Seconds = Annotated[float, Meta(gt=0)]
SIMULATED_API_KEY = "afk_simulated_no_apiframe_account"
ENV_FILE: Final = ".env"
# Reserved characters a password must carry percent-encoded inside a URL.
PERCENT_ENCODED: Final = "/ as %2F, @ as %40, : as %3A, # as %23, ? as %3F, % as %25"
POOL_MOST: Final = 200
SHARD_IDS_FORM: Final = re.compile(r"^\s*\d+(\s*,\s*\d+)*\s*$")
# The words an owner writes for yes and no (APIFRAME_SIMULATE=on).
BOOLEAN_WORDS: Final = {
    **dict.fromkeys(("1", "true", "yes", "on", "t", "y"), "true"),
    **dict.fromkeys(("0", "false", "no", "off", "f", "n"), "false"),
}


class Secret:
    """A token, key or password: `repr` and `str` never show it; `get_secret_value` reads it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def database_url_problem(name: str, url: str) -> str | None:
    """What is wrong with a database URL, in words that never repeat any part of it (it may
    hold a password, and a password with a `/` is read as the port)."""
    scheme, colon, _ = url.partition(":")
    if not colon or scheme.lower() not in ("sqlite", "postgresql", "postgres"):
        return f"{name} must start with sqlite:/// or postgresql://"
    if scheme.lower() == "sqlite":
        if not url.lower().startswith("sqlite:///") or len(url) <= len("sqlite:///"):
            return f"{name} must be sqlite:/// followed by the file's path"
        return None
    unreadable = (
        f"{name} cannot be read as postgresql://user:password@host:port/database: the port must "
        f"be a number, and reserved characters in the password percent-encoded ({PERCENT_ENCODED})"
    )
    try:
        parts: SplitResult = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return unreadable
    # A `/`, `#` or `?` in the password ends the address early; what follows shows an `@`.
    if parts.fragment or "@" in parts.path or "@" in parts.query:
        return unreadable
    return None


def https_address(url: str, example: str) -> str:
    """A public https address (plain http only to this machine's loopback, for trying it
    out); `ValueError` in words otherwise."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ValueError(f"must be a full https:// address, {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url.strip():
        raise ValueError(f"must be a full https:// address, {example}")
    if parts.scheme == "http" and not loopback(parts.hostname):
        raise ValueError(
            "must start with https://: Discord and Apiframe reach the bot over HTTPS only (put "
            f"the bot behind a reverse proxy that terminates TLS), {example}"
        )
    return url.strip()


def loopback(host: str | None) -> bool:
    import ipaddress  # noqa: PLC0415 - only for a webhook URL over http

    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the bot's HTTP server listens: all `python -m bot health` needs (no secrets)."""

    # How a setting's text is read before its type is checked: put in its usual form, or
    # refused with a `ValueError` that names the fix.
    readers: ClassVar[Mapping[str, Callable[[str], str]]] = {}

    # The bot's one HTTP server (health, metrics, Apiframe's webhooks); port 0 turns it off.
    http_host: str = "127.0.0.1"
    http_port: Port = 8080

    @classmethod
    def implied(cls, given: dict[str, object]) -> dict[str, object]:
        """The values as given, plus what one setting implies for another."""
        return given

    def problems(self) -> list[str]:
        """Mistakes across settings, each in words that name the settings and the fix."""
        return []


def id_list(ids: str) -> str:
    if not re.fullmatch(r"\s*\d{1,19}(\s*,\s*\d{1,19})*\s*", ids):
        raise ValueError(
            "must be Discord user ids separated by commas, such as 123456789012345678 (in "
            "Discord, turn on Developer Mode, then right-click a member and Copy User ID)"
        )
    return ids


# The most credits one pack may give (as for any grant).
MOST_PACK_CREDITS: Final = 1_000_000


def credit_pack_entries(text: str) -> dict[int, int]:
    """CREDIT_PACKS read as {SKU id: credits}; a `ValueError` names the first wrong entry."""
    packs: dict[int, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        match = re.fullmatch(r"(\d{1,19})\s*=\s*(\d{1,7})", entry)
        if match is None or not 1 <= int(match[2]) <= MOST_PACK_CREDITS:
            raise ValueError(
                f"“{entry[:40]}” is not <SKU id>=<credits> (credits from 1 to "
                f"{MOST_PACK_CREDITS}), as in 1234567890123456789=50, 2345678901234567890=200"
            )
        sku = int(match[1])
        if sku in packs:
            raise ValueError(f"SKU {sku} is given twice")
        packs[sku] = int(match[2])
    return packs


def credit_packs(text: str) -> str:
    credit_pack_entries(text)
    return text


class StoreSettings(ServiceSettings, frozen=True, kw_only=True):
    """What the owner's shell commands need: the database, and no secrets."""

    readers = {"log_level": str.upper, "new_servers": str.lower, "owner_ids": id_list}

    database_path: Path = Path("data/hailuo-bot.sqlite3")
    # `sqlite:///path` or `postgresql://user:password@host:port/database`; unset: the SQLite
    # file at DATABASE_PATH. A secret, because a PostgreSQL URL carries a password.
    database_url: Secret | None = None
    # Checked on PostgreSQL only (SQLite has no pool): see `problems`.
    postgres_pool_size: int = 10
    # Where `python -m bot db copy` copies the SQLite database to (a secret: it holds a
    # password, which has no place on a command line).
    copy_to_database_url: Secret | None = None
    # A member's balance in a server whose admins have not set `/quota default`: nothing, so
    # that no video is paid from the owner's Apiframe account until a server's admins decide.
    default_credits: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    log_level: LogLevel = "INFO"
    # What the bot's owner allows (the owner pays Apiframe): the most credits a server may
    # spend in a calendar month out of what its admins hand out, unless the owner set that
    # server's own; the most all servers together may spend in a month (unset: no limit); and
    # whether a server that adds the bot may use it before the owner approves it.
    server_monthly_budget: Annotated[int, Meta(ge=0, le=1_000_000_000)] = 100
    monthly_spend_limit: Annotated[int, Meta(ge=0, le=1_000_000_000)] | None = None
    new_servers: Literal["open", "approve"] = "open"
    # Discord user ids trusted as the bot's owner, besides the application's owner and team.
    owner_ids: str | None = None

    @property
    def owner_id_set(self) -> frozenset[int]:
        if self.owner_ids is None:
            return frozenset()
        return frozenset(int(part) for part in self.owner_ids.split(",") if part.strip())

    def problems(self) -> list[str]:
        found = super().problems()
        for name, secret in (
            ("DATABASE_URL", self.database_url),
            ("COPY_TO_DATABASE_URL", self.copy_to_database_url),
        ):
            problem = (
                None if secret is None else database_url_problem(name, secret.get_secret_value())
            )
            if problem is not None:
                found.append(problem)
        if self.on_postgres and not 1 <= self.postgres_pool_size <= POOL_MOST:
            found.append(f"POSTGRES_POOL_SIZE: must be a whole number from 1 to {POOL_MOST}")
        return found

    @property
    def store_url(self) -> str:
        """Where the data lives, password included: never log this (`Stores.where` is the
        loggable form)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.database_path}"

    @property
    def database_secrets(self) -> tuple[str, ...]:
        """What of the database URLs must never be logged: their passwords, and the URLs."""
        found: list[str] = []
        for secret in (self.database_url, self.copy_to_database_url):
            if secret is not None:
                url = secret.get_secret_value()
                password = urlsplit(url).password
                found += [url, password] if password else [url]
        return tuple(found)

    @property
    def on_postgres(self) -> bool:
        return self.store_url.lower().startswith(("postgresql:", "postgres:"))

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file: DATABASE_URL's path when it is a sqlite URL, else DATABASE_PATH."""
        url = self.store_url
        if url.lower().startswith("sqlite:///"):
            return Path(url[len("sqlite:///") :])
        return self.database_path


def webhook_address(url: str) -> str:
    return https_address(url, "such as https://bot.example.com/apiframe/webhook")


def public_base_address(url: str) -> str:
    return https_address(url, "such as https://bot.example.com").rstrip("/")


def dashboard_address(url: str) -> str:
    example = "such as https://bot.example.com/dashboard"
    address = https_address(url, example).rstrip("/")
    if not address.endswith("/dashboard"):
        raise ValueError(f"must be the address of the dashboard itself, {example}")
    return address


def bot_token(token: str) -> str:
    """A bot token as pasted: the `Bot ` a header puts before it is not part of it."""
    return re.sub(r"^\s*bot\s+", "", token, flags=re.IGNORECASE)


def shard_list(shard_ids: str) -> str:
    if not SHARD_IDS_FORM.match(shard_ids):
        raise ValueError("must be shard numbers separated by commas, such as 0,1")
    return shard_ids


class Settings(StoreSettings, frozen=True, kw_only=True):
    """Every setting the bot reads. Secrets are `Secret` so they never print."""

    readers = {
        **StoreSettings.readers,
        "discord_token": bot_token,
        "card_style": str.lower,
        "log_format": str.lower,
        "apiframe_webhook_url": webhook_address,
        "video_public_base_url": public_base_address,
        "dashboard_public_url": dashboard_address,
        "shard_ids": shard_list,
        "credit_packs": credit_packs,
    }

    discord_token: Secret
    apiframe_api_key: Secret

    apiframe_base_url: str = "https://api.apiframe.ai"
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    # Once a video may be finished, it is checked this often: the member's wait after Apiframe
    # finishes stays under about this. Before that, every `max` seconds at most.
    apiframe_poll_interval_seconds: Seconds = 4.0
    apiframe_max_poll_interval_seconds: Seconds = 30.0
    apiframe_typical_render_seconds: Seconds = 180.0
    # One budget for every request to Apiframe, whatever the number of jobs in flight.
    apiframe_max_requests_per_second: Seconds = 10.0
    # The public HTTPS address of POST /apiframe/webhook on this bot's HTTP server; unset: poll.
    apiframe_webhook_url: str | None = None
    # With webhooks on, each job is still checked this often in case a delivery is lost.
    apiframe_webhook_poll_interval_seconds: Seconds = 60.0
    apiframe_max_wait_minutes: Seconds = 60.0
    apiframe_give_up_hours: Seconds = 24.0
    apiframe_late_poll_interval_seconds: Seconds = 300.0

    # Tuning knobs with safe defaults; documented in .env.example.
    apiframe_timeout_seconds: Seconds = 30.0
    progress_edit_interval_seconds: Annotated[float, Meta(ge=0)] = 5.0
    attachment_download_timeout_seconds: Seconds = 30.0
    video_download_timeout_seconds: Seconds = 120.0
    # Off by default: keep a copy of every finished MP4 here, named by job id.
    video_archive_dir: Path | None = None
    # The admin dashboard: its public https address (ending in /dashboard, behind your reverse
    # proxy) and the Discord application's OAuth2 client secret (a secret); both or neither.
    dashboard_public_url: str | None = None
    discord_client_secret: Secret | None = None
    # The job's card: Discord's Components V2 layout (the video in a media gallery), or the
    # classic message with an attachment.
    card_style: Literal["v2", "classic"] = "v2"
    # Members' prices, per model and variant, where they differ from Apiframe's credits:
    # "hailuo-2.3-fast 768p 6s=4, hailuo-02 1080p 6s=12" (read by bot/money/pricing.py).
    video_prices: str | None = None
    # Credit packs sold in Discord's store: consumable SKUs and the credits each puts in a
    # member's wallet, "1234567890123456789=50, 2345678901234567890=200". Unset: nothing is
    # sold and no Buy button shows.
    credit_packs: str | None = None
    # The public https address of the bot's HTTP server (its root, as a reverse proxy exposes
    # it): with VIDEO_ARCHIVE_DIR, archived videos are served there under unguessable names,
    # and a video over Discord's upload limit plays from there. Unset: Apiframe's link.
    video_public_base_url: str | None = None
    # Members' start and end pictures are kept this long after their video is finished, for
    # Again and 1080p; a failed job's at once let go of.
    source_image_retention_days: Seconds = 30.0

    # Shards across processes: the total, and the ones this process connects ("0,1"). Unset:
    # this process runs every shard Discord recommends. Several processes need PostgreSQL.
    shard_count: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    shard_ids: str | None = None
    # How long a process's hold on a job lasts without renewal; a process that dies leaves its
    # jobs to the others after this long. Renewed every third of it.
    job_lease_seconds: Annotated[float, Meta(ge=3, le=3600)] = 30.0

    # When set, GET /metrics asks for it as a bearer token.
    metrics_token: Secret | None = None
    log_format: Literal["text", "json"] = "text"

    # Try the bot without an Apiframe bill: a local simulator answers instead of Apiframe.
    apiframe_simulate: bool = False
    apiframe_simulate_seconds: Seconds = 8.0

    @classmethod
    def implied(cls, given: dict[str, object]) -> dict[str, object]:
        """Trying the bot with the simulator needs no Apiframe key."""
        simulate = str(given.get("apiframe_simulate", "")).strip().lower()
        if BOOLEAN_WORDS.get(simulate) == "true" and "apiframe_api_key" not in given:
            return {**given, "apiframe_api_key": SIMULATED_API_KEY}
        return given

    def problems(self) -> list[str]:
        found = super().problems()
        url, secret = self.dashboard_public_url, self.discord_client_secret
        if (url is None) != (secret is None):
            found.append(
                "the dashboard needs both DASHBOARD_PUBLIC_URL and DISCORD_CLIENT_SECRET (the "
                "Developer Portal's OAuth2 page): set the other, or unset both"
            )
        elif url is not None and not self.http_port:
            found.append(
                "DASHBOARD_PUBLIC_URL needs the HTTP server: set HTTP_PORT (not 0), or unset it"
            )
        if self.video_public_base_url is not None and self.video_archive_dir is None:
            found.append(
                "VIDEO_PUBLIC_BASE_URL serves archived videos: set VIDEO_ARCHIVE_DIR too (or "
                "unset VIDEO_PUBLIC_BASE_URL)"
            )
        elif self.video_public_base_url is not None and not self.http_port:
            found.append(
                "VIDEO_PUBLIC_BASE_URL needs the HTTP server: set HTTP_PORT (not 0), or unset "
                "VIDEO_PUBLIC_BASE_URL"
            )
        if self.apiframe_webhook_url is not None and not self.http_port:
            found.append(
                "APIFRAME_WEBHOOK_URL needs the HTTP server to receive the webhooks: set "
                "HTTP_PORT (not 0), or unset APIFRAME_WEBHOOK_URL to poll instead"
            )
        found.extend(self._shard_problems())
        return found

    def _shard_problems(self) -> list[str]:
        if self.shard_ids is not None and self.shard_count is None:
            return ["SHARD_IDS needs SHARD_COUNT (the total number of shards)"]
        if self.shard_count is not None and any(
            shard >= self.shard_count for shard in self.local_shards or ()
        ):
            return [f"SHARD_IDS must be below SHARD_COUNT ({self.shard_count})"]
        sharded = (self.shard_count or 1) > 1 or self.shard_ids is not None
        if sharded and not self.on_postgres:
            return [
                "SHARD_COUNT and SHARD_IDS need PostgreSQL (processes share their servers' "
                "limits and jobs through it): set DATABASE_URL=postgresql://…, or unset them"
            ]
        return []

    @property
    def credit_pack_map(self) -> dict[int, int]:
        """The credit packs: {SKU id: credits} (empty: nothing is sold)."""
        return {} if self.credit_packs is None else credit_pack_entries(self.credit_packs)

    @property
    def dashboard_on(self) -> bool:
        return self.dashboard_public_url is not None and self.discord_client_secret is not None

    @property
    def local_shards(self) -> tuple[int, ...] | None:
        """The shards this process connects; None: all of them (whatever their number)."""
        if self.shard_count is None:
            return None
        if self.shard_ids is None:
            return tuple(range(self.shard_count))
        return tuple(sorted({int(part) for part in self.shard_ids.split(",")}))


APIFRAME_KEY_PREFIX = "afk_"


def setup_warnings(settings: Settings, env_file: Path = Path(ENV_FILE)) -> list[str]:
    """Settings that parse but are probably mistakes; the bot still starts."""
    warnings = misspelt_settings(env_file)
    if not settings.apiframe_api_key.get_secret_value().startswith(APIFRAME_KEY_PREFIX):
        warnings.append(
            f"APIFRAME_API_KEY does not look like an Apiframe API key (those start "
            f"with {APIFRAME_KEY_PREFIX}…): copy it again from Apiframe's dashboard"
        )
    token = settings.discord_token.get_secret_value()
    if token.count(".") != 2 or " " in token:
        warnings.append(
            "DISCORD_TOKEN does not look like a bot token (three parts separated "
            "by dots): copy it again from the Developer Portal's Bot tab"
        )
    return warnings


def misspelt_settings(env_file: Path = Path(ENV_FILE)) -> list[str]:
    """Lines of `.env` whose name is not a setting but nearly is one (`HTTP_PROT`,
    `LOGLEVEL`): a typo the owner would otherwise never hear of, since unknown names are
    ignored (an `.env` may hold other programs' variables, which are left alone)."""
    try:
        names = [name for name in dotenv_values(env_file) if name]
    except (OSError, UnicodeDecodeError):
        return []
    known = [field.name.upper() for field in setting_fields()]
    warnings = []
    for name in names:
        if name.upper() in known:
            continue
        import difflib  # noqa: PLC0415 - only when .env holds a name that is not a setting

        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
        if close:
            warnings.append(
                f"{env_file} sets {name}, which is not a setting: did you mean {close[0]}?"
            )
    return warnings


def setting_fields(kind: type[ServiceSettings] = Settings) -> tuple[msgspec.structs.FieldInfo, ...]:
    """Every setting of `kind`, in the order `--help` and the README list them."""
    return msgspec.structs.fields(kind)


def settings_help() -> str:
    """Every setting with its default, for `python -m bot --help`."""
    lines = ["settings (environment variables, or lines of a .env file in the working folder):"]
    for field in setting_fields():
        if field.required:
            shown = "required"
        else:
            shown = "unset" if field.default is None else f"default {field.default}"
        lines.append(f"  {field.name.upper():42} {shown}")
    return "\n".join(lines)


# A check a higher layer adds to a setting (VIDEO_PRICES reads as prices): a `ValueError` in
# words when the value will not do, run with every other check.
SettingCheck = Callable[[Any], None]


def load_settings(env_file: Path | None = Path(ENV_FILE), **overrides: object) -> Settings:
    """Build the settings, turning a missing secret into an error that names its variable."""
    return _load(Settings, env_file, overrides)


def load_checked_settings(
    checks: Mapping[str, SettingCheck], env_file: Path | None = Path(ENV_FILE)
) -> Settings:
    """The settings, with the checks a higher layer adds run beside every other one (the bot
    and `check` read VIDEO_PRICES as prices this way), so every mistake is named at once."""
    return _load(Settings, env_file, {}, checks)


def load_store_settings(
    env_file: Path | None = Path(ENV_FILE), **overrides: object
) -> StoreSettings:
    return _load(StoreSettings, env_file, overrides)


def load_service_settings(
    env_file: Path | None = Path(ENV_FILE), **overrides: object
) -> ServiceSettings:
    return _load(ServiceSettings, env_file, overrides)


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def where_to_set(env_file: Path | None) -> str:
    """Where a setting that is not set goes: the `.env` that was read (named in full, so a
    bot started from another folder says so), or the environment."""
    if env_file is None:
        return "set it in the environment"
    if env_file.is_file():
        return f"put it in {env_file.resolve()}, or in the environment"
    return (
        f"there is no {env_file.name} in {env_file.resolve().parent}: copy .env.example there "
        "as .env and fill it in, or set it in the environment"
    )


def _load(
    kind: type[SettingsT],
    env_file: Path | None,
    overrides: dict[str, object],
    checks: Mapping[str, SettingCheck] | None = None,
) -> SettingsT:
    """Read, check and build settings of `kind`; every problem goes into one
    `ConfigurationError` (the values that cannot be read, those a check refuses, what the
    settings say of each other, and the names in `.env` that look like a setting misspelt),
    and none of them repeats a value."""
    fields = setting_fields(kind)
    try:
        given = kind.implied(_given({field.name for field in fields}, env_file, overrides))
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{env_file} is not UTF-8 text (byte {exc.start}): save it again as UTF-8 "
            "(in most editors: Save As, encoding UTF-8)"
        ) from None
    except OSError as exc:  # an .env this user may not read
        raise ConfigurationError(
            f"cannot read {env_file}: {exc.strerror or exc}: run the bot as the user it "
            "belongs to, or give this one read access"
        ) from None
    values: dict[str, object] = {}
    problems = []
    for field in fields:
        name = field.name.upper()
        if field.name not in given:
            if field.required:
                problems.append(f"{name} is not set ({where_to_set(env_file)})")
                values[field.name] = Secret("")  # a stand-in, so the rest can be checked
            continue
        try:
            value = _read(field.type, given[field.name], kind.readers.get(field.name))
            check = (checks or {}).get(field.name)
            if check is not None and value is not None:
                check(value)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")  # the default stands in while the rest is read
        else:
            values[field.name] = value
    settings = kind(**values)  # type: ignore[arg-type]  # each value read as its type
    problems.extend(settings.problems())
    if problems:
        # A name misspelt in .env is often why something is "not set": say so with the rest.
        problems.extend(misspelt_settings(env_file) if env_file is not None else [])
        raise ConfigurationError("; ".join(problems))
    return settings


def _given(
    names: set[str], env_file: Path | None, overrides: dict[str, object]
) -> dict[str, object]:
    """The settings' values by name: the `.env` file's, then the environment's over them, then
    the caller's. Names are not case sensitive; an empty value is no value; other programs'
    variables are left alone."""
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"not settings: {', '.join(sorted(unknown))}")
    sources: list[Mapping[str, str | None]] = []
    if env_file is not None and env_file.is_file():
        sources.append(dotenv_values(env_file, encoding="utf-8"))
    sources.append(os.environ)
    given: dict[str, object] = {}
    for source in sources:
        for key, value in source.items():
            if value and key.lower() in names:
                given[key.lower()] = value
    for name, override in overrides.items():
        if override is None or override == "":
            given.pop(name, None)
        else:
            given[name] = override
    return given


def _read(annotation: Any, value: object, reader: Callable[[str], str] | None) -> object:
    """One setting's value as its type, or a `ValueError` saying what it must be."""
    kind = _plain(annotation)
    if isinstance(value, str):
        if reader is not None:
            value = reader(value)
        if kind is not str:
            value = value.strip()  # spaces around a value (a pasted token, say) are not part of it
        if kind is bool:
            value = BOOLEAN_WORDS.get(value.lower(), value)
    if kind is Secret:
        return value if isinstance(value, Secret) else Secret(str(value))
    if kind is Path:
        return value if isinstance(value, Path) else Path(str(value))
    try:
        return msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError:
        raise ValueError(_expected(annotation)) from None


def _present(annotation: Any) -> Any:
    """The type under `X | None`: what a setting is when it is set."""
    if get_origin(annotation) in (Union, types.UnionType):
        return next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


def _plain(annotation: Any) -> Any:
    """The type under `X | None` and `Annotated[X, …]`."""
    annotation = _present(annotation)
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _expected(annotation: Any) -> str:
    """What a setting of this type must be, in words."""
    kind = _plain(annotation)
    if get_origin(kind) is Literal:
        return "must be one of " + ", ".join(str(choice) for choice in get_args(kind))
    if kind is bool:
        return "must be true or false (or yes/no, on/off, 1/0)"
    if kind not in (int, float):
        return "must be text"
    noun = "a whole number" if kind is int else "a number"
    return f"must be {noun}{_limits(annotation)}"


def _limits(annotation: Any) -> str:
    """A number's limits in words (" from 0 to 65535"), from its `Meta`."""
    meta = next((arg for arg in get_args(_present(annotation)) if isinstance(arg, Meta)), None)
    if meta is None:
        return ""
    low, high = meta.ge, meta.le
    if low is not None and high is not None:
        return f" from {_number(low)} to {_number(high)}"
    if meta.gt is not None:
        return f" above {_number(meta.gt)}"
    if low is not None:
        return f" of {_number(low)} or more"
    return "" if high is None else f" of {_number(high)} or less"


def _number(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else str(limit)
