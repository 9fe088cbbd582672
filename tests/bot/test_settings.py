from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from bot.settings import (
    SIMULATED_API_KEY,
    Secret,
    database_url_problem,
    load_settings,
    misspelt_settings,
)


def test_missing_secrets_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("APIFRAME_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(None)
    assert "DISCORD_TOKEN is not set" in str(caught.value)
    assert "APIFRAME_API_KEY is not set" in str(caught.value)


def test_settings_come_from_the_environment_and_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=from-file\nAPIFRAME_API_KEY=afk_file\nDEFAULT_CREDITS=3\n")
    monkeypatch.setenv("DEFAULT_CREDITS", "9")
    settings = load_settings(env_file)
    assert settings.discord_token.get_secret_value() == "from-file"
    assert settings.default_credits == 9  # the environment wins over the file
    assert settings.apiframe_base_url == "https://api.apiframe.ai"
    assert settings.database_path == Path("data/hailuo-bot.sqlite3")
    assert settings.apiframe_poll_interval_seconds <= 5  # bounds the wait after completion
    assert settings.apiframe_max_requests_per_second == 10
    assert settings.http_host == "127.0.0.1" and settings.http_port == 8080
    assert "from-file" not in repr(settings) and "afk_file" not in str(settings)


def test_bad_values_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_CREDITS", "-4")
    with pytest.raises(ConfigurationError, match="DEFAULT_CREDITS"):
        load_settings(env_file=None, discord_token="t", apiframe_api_key="k")


def test_shard_settings_are_checked_and_read() -> None:
    base = {
        "discord_token": "t",
        "apiframe_api_key": "k",
        "database_url": "postgresql://bot@db/hailuo",
    }
    assert load_settings(None, **base).local_shards is None  # every shard, in this process
    assert load_settings(None, **base, shard_count=4).local_shards == (0, 1, 2, 3)
    assert load_settings(None, **base, shard_count=4, shard_ids="3, 1").local_shards == (1, 3)
    with pytest.raises(ConfigurationError, match="SHARD_IDS needs SHARD_COUNT"):
        load_settings(None, **base, shard_ids="0")
    with pytest.raises(ConfigurationError, match="below SHARD_COUNT"):
        load_settings(None, **base, shard_count=2, shard_ids="0,2")
    with pytest.raises(ConfigurationError, match="SHARD_IDS"):
        load_settings(None, **base, shard_count=2, shard_ids="zero")


@pytest.mark.parametrize("shards", [{"shard_count": 2}, {"shard_count": 1, "shard_ids": "0"}])
def test_sharding_on_sqlite_is_refused_with_the_fix(shards: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="need PostgreSQL") as refused:
        load_settings(env_file=None, discord_token="t", apiframe_api_key="k", **shards)
    assert "DATABASE_URL=postgresql://" in str(refused.value)
    load_settings(env_file=None, discord_token="t", apiframe_api_key="k", shard_count=1)


def test_the_safe_money_default_is_no_credits() -> None:
    settings = load_settings(env_file=None, discord_token="t", apiframe_api_key="k")
    assert settings.default_credits == 0


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://bot.example.com/apiframe/webhook", True),
        ("http://127.0.0.1:8080/apiframe/webhook", True),  # local tests
        ("http://localhost:8080/apiframe/webhook", True),
        ("http://[::1]:8080/apiframe/webhook", True),
        ("http://bot.example.com/apiframe/webhook", False),
        ("http://10.0.0.5/apiframe/webhook", False),
        ("ftp://bot.example.com/apiframe/webhook", False),
        ("https://bot.example.com:port/apiframe/webhook", False),
    ],
)
def test_webhooks_need_https_except_on_loopback(url: str, accepted: bool) -> None:
    values = {"discord_token": "t", "apiframe_api_key": "k", "apiframe_webhook_url": url}
    if accepted:
        assert load_settings(env_file=None, **values).apiframe_webhook_url == url
    else:
        with pytest.raises(ConfigurationError, match="APIFRAME_WEBHOOK_URL"):
            load_settings(env_file=None, **values)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:p@host:5432/db", None),
        ("postgresql://u:p%2Fq%40r@host/db?sslmode=require", None),
        ("postgres:///db", None),
        ("sqlite:///data/bot.sqlite3", None),
        ("postgresql://u:Xy7/Qz9+Ab@host/db", "percent-encoded"),
        ("postgresql://u:12/ab@host/db", "percent-encoded"),  # a password that looks like a port
        ("postgresql://u:p#w@host/db", "percent-encoded"),
        ("postgresql://u:pw@host:abc/db", "the port must be a number"),
        ("mysql://u:pw@host/db", "must start with sqlite:/// or postgresql://"),
        ("Xy7Qz9-just-a-password", "must start with sqlite:/// or postgresql://"),
        ("sqlite://relative.db", "sqlite:/// followed by the file's path"),
    ],
)
def test_database_urls_are_read_without_ever_repeating_them(url: str, problem: str | None) -> None:
    found = database_url_problem("DATABASE_URL", url)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert url not in found and "Xy7" not in found


def test_a_setting_misspelt_in_env_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HTTP_PROT=1\nLOGLEVEL=DEBUG\nDISCORD_TOKEN=t\nPGPASSWORD=x\nTZ=UTC\n")
    assert misspelt_settings(env_file) == [
        f"{env_file} sets HTTP_PROT, which is not a setting: did you mean HTTP_PORT?",
        f"{env_file} sets LOGLEVEL, which is not a setting: did you mean LOG_LEVEL?",
    ]


def test_every_wrong_value_is_listed_at_once_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = {
        "HTTP_PORT": "99999",
        "DEFAULT_CREDITS": "-4",
        "APIFRAME_POLL_INTERVAL_SECONDS": "0",
        "JOB_LEASE_SECONDS": "soon",
        "CARD_STYLE": "fancy",
        "APIFRAME_SIMULATE": "maybe",
    }
    for name, value in wrong.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(None, discord_token="t", apiframe_api_key="k")
    assert str(caught.value).split("; ") == [
        "HTTP_PORT: must be a whole number from 0 to 65535",
        "DEFAULT_CREDITS: must be a whole number from 0 to 1000000",
        "APIFRAME_POLL_INTERVAL_SECONDS: must be a number above 0",
        "CARD_STYLE: must be one of v2, classic",
        "JOB_LEASE_SECONDS: must be a number from 3 to 3600",
        "APIFRAME_SIMULATE: must be true or false (or yes/no, on/off, 1/0)",
    ]


def test_values_are_read_as_an_owner_writes_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "discord_token=a.b.c\nAPIFRAME_SIMULATE=on\nLOG_LEVEL=debug\nHTTP_PORT= 8081 \n"
        "VIDEO_ARCHIVE_DIR=videos\nSHARD_COUNT=\nPGPASSWORD=someone-else's\n"
    )
    monkeypatch.delenv("APIFRAME_API_KEY", raising=False)
    settings = load_settings(env_file)
    assert settings.discord_token.get_secret_value() == "a.b.c"  # names in any case
    assert settings.apiframe_simulate is True and settings.log_level == "DEBUG"
    assert settings.apiframe_api_key.get_secret_value() == SIMULATED_API_KEY
    assert settings.http_port == 8081
    assert settings.video_archive_dir == Path("videos")
    assert settings.shard_count is None  # an empty value is no value
    # The caller's values win, and None puts a setting back to its default.
    chosen = load_settings(env_file, http_port=None, apiframe_simulate="no", apiframe_api_key="k")
    assert chosen.http_port == 8080 and chosen.apiframe_simulate is False


def test_secrets_never_print() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r}"
    assert secret.get_secret_value() == "hunter2" and secret == Secret("hunter2")
    settings = load_settings(None, discord_token="a.b.c", apiframe_api_key="afk_hunter2")
    assert "hunter2" not in repr(settings) and "a.b.c" not in str(settings)


@pytest.mark.parametrize(
    ("packs", "named"),
    [
        ("1234=50, 12x4=5", "“12x4=5” is not <SKU id>=<credits>"),
        ("1234=0", "“1234=0” is not <SKU id>=<credits>"),
        ("1234=50, 1234=60", "SKU 1234 is given twice"),
    ],
)
def test_a_malformed_credit_pack_is_named_in_one_line(packs: str, named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(None, discord_token="t", apiframe_api_key="k", credit_packs=packs)
    assert str(caught.value).startswith("CREDIT_PACKS: ") and named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_credit_packs_are_read_as_skus_and_credits() -> None:
    settings = load_settings(
        None, discord_token="t", apiframe_api_key="k", credit_packs=" 1234 = 50,5678=200, "
    )
    assert settings.credit_pack_map == {1234: 50, 5678: 200}
    assert load_settings(None, discord_token="t", apiframe_api_key="k").credit_pack_map == {}
