"""The README's quick start, followed literally on a fresh copy of the repository: its first
command installs the bot into a new virtual environment, `.env` gets the two secrets, its second
command starts the bot, and the first steps in Discord lead to a video. Discord and Apiframe
are the fakes (their addresses come from the environment, which the README says works too)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.commands import hailuo, integer, sub
from testkit.fake_apiframe import API_KEY, FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.harness import DISCORD_TOKEN, free_port
from testkit.processes import REPO

pytestmark = [pytest.mark.engines("sqlite"), pytest.mark.slow]  # the README's default engine
# The interpreter behind this suite's virtual environment, not the environment itself.
INTERPRETER = Path(sys.executable).resolve()


def quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start") : readme.index("## Docker")]
    return [block.strip() for block in re.findall(r"^```sh\n(.*?)^```", quick, re.M | re.S)]


def fresh_copy(target: Path) -> Path:
    """The repository as a clone has it: tracked files only (no virtual environment, no data)."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell a clone's files from local ones")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


async def test_the_quick_start_followed_literally_makes_a_video(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    clone = fresh_copy(tmp_path / "hailuo-bot")
    install, start = quick_start_commands()[:2]
    environment = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "HOME", "LANG", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_CERT")
        or key.startswith(("SSL_", "REQUESTS_CA"))
    }
    # The README says python3 (3.11 or newer): the one running this suite, first on the PATH.
    environment["PATH"] = f"{INTERPRETER.parent}:{environment.get('PATH', '')}"
    installed = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", install],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    env_file = clone / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # its secrets are the owner's alone
    env_file.write_text(
        env_file.read_text()
        .replace("\nDISCORD_TOKEN=\n", f"\nDISCORD_TOKEN={DISCORD_TOKEN}\n")
        .replace("\nAPIFRAME_API_KEY=\n", f"\nAPIFRAME_API_KEY={API_KEY}\n")
    )
    filled = env_file.read_text()
    # The first command again (as an owner who scrolls back and runs it twice): nothing lost.
    again = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", install],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert env_file.read_text() == filled
    running_env = {
        **environment,
        "DISCORD_API_BASE_URL": fake_discord.api_base,
        "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
        "APIFRAME_BASE_URL": fake_apiframe.base_url,
        "HTTP_PORT": str(free_port()),
    }
    identified = fake_discord.identifies
    bot = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"exec {start}",
        cwd=clone,
        env=running_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        try:
            await fake_discord.wait_for(lambda: fake_discord.identifies > identified, within=60)
        except TimeoutError:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(bot.communicate(), 30)
            raise AssertionError(output.decode(errors="replace")[-3000:]) from None
        ana, admin = fake_discord.add_member("ana"), fake_discord.add_member("admin", admin=True)
        asked = await fake_discord.invoke("hailuo", hailuo("a lighthouse at dusk"), member=ana)
        await fake_discord.wait_reply(asked, "has not set up credits yet", within=20)
        await fake_discord.wait_reply(
            await fake_discord.invoke(
                "quota", [sub("default", integer("amount", 20))], member=admin
            ),
            "now start with **20** credits",
        )
        asked = await fake_discord.invoke("hailuo", hailuo("a lighthouse at dusk"), member=ana)
        await fake_discord.wait_reply(asked, "your video is ready", within=30)
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(bot.communicate(), 30)
    assert bot.returncode == 0, output.decode(errors="replace")[-3000:]
    assert (clone / "data" / "hailuo-bot.sqlite3").is_file()
    assert "Traceback" not in output.decode(errors="replace")
