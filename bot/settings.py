"""The bot's configuration, read once from the environment or a `.env` file.

Every mistake becomes one line naming the setting and the fix (`ConfigurationError`), and none
of those lines ever repeats a secret: a database URL that cannot be read is described, not
quoted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal, TypeVar
from urllib.parse import SplitResult, urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigurationError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
SIMULATED_API_KEY = "afk_simulated_no_apiframe_account"
ENV_FILE: Final = ".env"
# Reserved characters a password must carry percent-encoded inside a URL.
PERCENT_ENCODED: Final = "/ as %2F, @ as %40, : as %3A, # as %23, ? as %3F, % as %25"
SHARD_IDS_FORM: Final = re.compile(r"^\s*\d+(\s*,\s*\d+)*\s*$")


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


class ServiceSettings(BaseSettings):
    """Where the bot's HTTP server listens: all `python -m bot health` needs (no secrets)."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        env_ignore_empty=True,
    )

    # The bot's one HTTP server (health, metrics, Apiframe's webhooks); port 0 turns it off.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)


class StoreSettings(ServiceSettings):
    """What the owner's shell commands need: the database, and no secrets."""

    database_path: Path = Path("data/hailuo-bot.sqlite3")
    # `sqlite:///path` or `postgresql://user:password@host:port/database`; unset: the SQLite
    # file at DATABASE_PATH. A secret, because a PostgreSQL URL carries a password.
    database_url: SecretStr | None = None
    postgres_pool_size: int = Field(default=10, ge=1, le=200)
    # Where `python -m bot db copy` copies the SQLite database to (a secret: it holds a
    # password, which has no place on a command line).
    copy_to_database_url: SecretStr | None = None
    # A member's balance in a server whose admins have not set `/quota default`: nothing, so
    # that no video is paid from the owner's Apiframe account until a server's admins decide.
    default_credits: int = Field(default=0, ge=0, le=1_000_000)
    log_level: LogLevel = "INFO"

    @model_validator(mode="after")
    def _readable_databases(self) -> StoreSettings:
        for name, secret in (
            ("DATABASE_URL", self.database_url),
            ("COPY_TO_DATABASE_URL", self.copy_to_database_url),
        ):
            problem = (
                None if secret is None else database_url_problem(name, secret.get_secret_value())
            )
            if problem is not None:
                raise ValueError(problem)
        return self

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


class Settings(StoreSettings):
    """Every setting the bot reads. Secrets are `SecretStr` so they never print."""

    discord_token: SecretStr = Field(min_length=1)
    apiframe_api_key: SecretStr = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _simulated_key(cls, data: object) -> object:
        """Trying the bot with the simulator needs no Apiframe key."""
        if (
            isinstance(data, dict)
            and str(data.get("apiframe_simulate", "")).lower() in ("1", "true", "yes", "on")
            and not data.get("apiframe_api_key")
        ):
            return {**data, "apiframe_api_key": SIMULATED_API_KEY}
        return data

    apiframe_base_url: str = "https://api.apiframe.ai"
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    # Once a video may be finished, it is checked this often: the member's wait after Apiframe
    # finishes stays under about this. Before that, every `max` seconds at most.
    apiframe_poll_interval_seconds: float = Field(default=4.0, gt=0)
    apiframe_max_poll_interval_seconds: float = Field(default=30.0, gt=0)
    apiframe_typical_render_seconds: float = Field(default=180.0, gt=0)
    # One budget for every request to Apiframe, whatever the number of jobs in flight.
    apiframe_max_requests_per_second: float = Field(default=10.0, gt=0)
    # The public HTTPS address of POST /apiframe/webhook on this bot's HTTP server; unset: poll.
    apiframe_webhook_url: str | None = None
    # With webhooks on, each job is still checked this often in case a delivery is lost.
    apiframe_webhook_poll_interval_seconds: float = Field(default=60.0, gt=0)
    apiframe_max_wait_minutes: float = Field(default=60.0, gt=0)
    apiframe_give_up_hours: float = Field(default=24.0, gt=0)
    apiframe_late_poll_interval_seconds: float = Field(default=300.0, gt=0)

    # Tuning knobs with safe defaults; documented in .env.example.
    apiframe_timeout_seconds: float = Field(default=30.0, gt=0)
    progress_edit_interval_seconds: float = Field(default=5.0, ge=0)
    attachment_download_timeout_seconds: float = Field(default=30.0, gt=0)
    video_download_timeout_seconds: float = Field(default=120.0, gt=0)
    # Off by default: keep a copy of every finished MP4 here, named by job id.
    video_archive_dir: Path | None = None
    # The admin dashboard: its public https address (ending in /dashboard, behind your reverse
    # proxy) and the Discord application's OAuth2 client secret (a secret); both or neither.
    dashboard_public_url: str | None = None
    discord_client_secret: SecretStr | None = None
    # The job's card: Discord's Components V2 layout (the video in a media gallery), or the
    # classic message with an attachment.
    card_style: Literal["v2", "classic"] = "v2"
    # Members' prices, per model and variant, where they differ from Apiframe's credits:
    # "hailuo-2.3-fast 768p 6s=4, hailuo-02 1080p 6s=12" (read by bot/money/pricing.py).
    video_prices: str | None = None
    # The public https address of the bot's HTTP server (its root, as a reverse proxy exposes
    # it): with VIDEO_ARCHIVE_DIR, archived videos are served there under unguessable names,
    # and a video over Discord's upload limit plays from there. Unset: Apiframe's link.
    video_public_base_url: str | None = None
    # Members' start and end pictures are kept this long after their video is finished, for
    # Again and 1080p; a failed job's at once let go of.
    source_image_retention_days: float = Field(default=30.0, gt=0)

    # Shards across processes: the total, and the ones this process connects ("0,1"). Unset:
    # this process runs every shard Discord recommends. Several processes need PostgreSQL.
    shard_count: int | None = Field(default=None, ge=1, le=10_000)
    shard_ids: str | None = None
    # How long a process's hold on a job lasts without renewal; a process that dies leaves its
    # jobs to the others after this long. Renewed every third of it.
    job_lease_seconds: float = Field(default=30.0, ge=3, le=3600)

    @field_validator("apiframe_webhook_url")
    @classmethod
    def _reachable_webhook(cls, url: str | None) -> str | None:
        if url is None:
            return None
        return https_address(url, "such as https://bot.example.com/apiframe/webhook")

    @field_validator("video_public_base_url")
    @classmethod
    def _public_base(cls, url: str | None) -> str | None:
        if url is None:
            return None
        return https_address(url, "such as https://bot.example.com").rstrip("/")

    @field_validator("dashboard_public_url")
    @classmethod
    def _dashboard_address(cls, url: str | None) -> str | None:
        if url is None:
            return None
        example = "such as https://bot.example.com/dashboard"
        address = https_address(url, example).rstrip("/")
        if not address.endswith("/dashboard"):
            raise ValueError(f"must be the address of the dashboard itself, {example}")
        return address

    @field_validator("shard_ids")
    @classmethod
    def _shard_list(cls, shard_ids: str | None) -> str | None:
        if shard_ids is not None and not SHARD_IDS_FORM.match(shard_ids):
            raise ValueError("must be shard numbers separated by commas, such as 0,1")
        return shard_ids

    @model_validator(mode="after")
    def _dashboard_complete(self) -> Settings:
        url, secret = self.dashboard_public_url, self.discord_client_secret
        if (url is None) != (secret is None):
            raise ValueError(
                "the dashboard needs both DASHBOARD_PUBLIC_URL and DISCORD_CLIENT_SECRET (the "
                "Developer Portal's OAuth2 page): set the other, or unset both"
            )
        if url is not None and not self.http_port:
            raise ValueError(
                "DASHBOARD_PUBLIC_URL needs the HTTP server: set HTTP_PORT (not 0), or unset it"
            )
        return self

    @property
    def dashboard_on(self) -> bool:
        return self.dashboard_public_url is not None and self.discord_client_secret is not None

    @model_validator(mode="after")
    def _public_videos_need_an_archive(self) -> Settings:
        if self.video_public_base_url is not None and self.video_archive_dir is None:
            raise ValueError(
                "VIDEO_PUBLIC_BASE_URL serves archived videos: set VIDEO_ARCHIVE_DIR too (or "
                "unset VIDEO_PUBLIC_BASE_URL)"
            )
        if self.video_public_base_url is not None and not self.http_port:
            raise ValueError(
                "VIDEO_PUBLIC_BASE_URL needs the HTTP server: set HTTP_PORT (not 0), or unset "
                "VIDEO_PUBLIC_BASE_URL"
            )
        return self

    @model_validator(mode="after")
    def _shards_make_sense(self) -> Settings:
        if self.shard_ids is not None and self.shard_count is None:
            raise ValueError("SHARD_IDS needs SHARD_COUNT (the total number of shards)")
        if self.shard_count is not None and any(
            shard >= self.shard_count for shard in self.local_shards or ()
        ):
            raise ValueError(f"SHARD_IDS must be below SHARD_COUNT ({self.shard_count})")
        sharded = (self.shard_count or 1) > 1 or self.shard_ids is not None
        if sharded and not self.on_postgres:
            raise ValueError(
                "SHARD_COUNT and SHARD_IDS need PostgreSQL (processes share their servers' "
                "limits and jobs through it): set DATABASE_URL=postgresql://…, or unset them"
            )
        return self

    @property
    def local_shards(self) -> tuple[int, ...] | None:
        """The shards this process connects; None: all of them (whatever their number)."""
        if self.shard_count is None:
            return None
        if self.shard_ids is None:
            return tuple(range(self.shard_count))
        return tuple(sorted({int(part) for part in self.shard_ids.split(",")}))

    # When set, GET /metrics asks for it as a bearer token.
    metrics_token: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"

    # Try the bot without an Apiframe bill: a local simulator answers instead of Apiframe.
    apiframe_simulate: bool = False
    apiframe_simulate_seconds: float = Field(default=8.0, gt=0)


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
    known = [field.upper() for field in Settings.model_fields]
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


def settings_help() -> str:
    """Every setting with its default, for `python -m bot --help`."""
    lines = ["settings (environment variables, or lines of a .env file in the working folder):"]
    for name, field in Settings.model_fields.items():
        if field.is_required():
            shown = "required"
        else:
            default = field.get_default(call_default_factory=True)
            shown = "unset" if default is None else f"default {default}"
        lines.append(f"  {name.upper():42} {shown}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a missing secret into an error that names its variable."""
    return _load(Settings, overrides)


def load_store_settings(**overrides: object) -> StoreSettings:
    return _load(StoreSettings, overrides)


def load_service_settings(**overrides: object) -> ServiceSettings:
    return _load(ServiceSettings, overrides)


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def _load(kind: type[SettingsT], overrides: dict[str, object]) -> SettingsT:
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{ENV_FILE} is not UTF-8 text (byte {exc.start}): save it again as UTF-8 "
            "(in most editors: Save As, encoding UTF-8)"
        ) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] in ("missing", "string_too_short"):
                problems.append(f"{name} is not set (put it in the environment or in .env)")
            elif not name:  # a rule across settings: its message names them
                problems.append(message)
            else:
                problems.append(f"{name}: {message}")
        raise ConfigurationError("; ".join(problems)) from None
