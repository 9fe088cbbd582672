"""What every benchmark section shares: the sizes of a full and a smoke run, a row of the
report, percentiles, and the stage (a fake Discord and a fake Apiframe on loopback, and bot
processes started against them)."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord, FakeInteraction
from testkit.processes import BotProcess

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"


@dataclass
class Sizes:
    burst: int = 200
    big_burst: int = 1000
    ledger_pairs: int = 10_000
    polling_jobs: int = 120
    time_factor: float = 30.0
    footprint_jobs: int = 1000
    cold_starts: int = 5
    blocked_entries: int = 1000
    match_rounds: int = 200
    admitting_servers: int = 200
    extend_seconds: int = 6
    extend_size: tuple[int, int] = (1366, 768)
    extend_rounds: int = 5
    flood_rate: int = 1000
    flood_seconds: float = 10.0
    dashboard_ledger_rows: int = 100_000
    dashboard_jobs: int = 10_000
    dashboard_requests: int = 100
    login_flood_rate: int = 1000
    login_flood_seconds: float = 10.0
    csv_rows: int = 200_000
    story_seconds: int = 10
    story_size: tuple[int, int] = (1920, 1080)

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(
            burst=10,
            big_burst=20,
            ledger_pairs=200,
            polling_jobs=4,
            time_factor=120.0,
            footprint_jobs=20,
            cold_starts=1,
            match_rounds=5,
            admitting_servers=20,
            extend_seconds=2,
            extend_size=(320, 240),
            extend_rounds=1,
            flood_rate=100,
            flood_seconds=3.0,
            dashboard_ledger_rows=2_000,
            dashboard_jobs=200,
            dashboard_requests=5,
            login_flood_rate=50,
            login_flood_seconds=2.0,
            csv_rows=2_000,
            story_seconds=2,
            story_size=(320, 240),
        )


@dataclass
class Row:
    measure: str
    bot: str
    reference: str
    ratio: str
    target: str
    met: bool | None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# -- fakes and processes -----------------------------------------------------------------------


class Stage:
    """A fake Discord and a fake Apiframe on loopback, and processes started against them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.discord = FakeDiscord()
        self.apiframe = FakeApiframe()

    async def __aenter__(self) -> Stage:
        await self.discord.start()
        await self.apiframe.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.discord.stop()
        await self.apiframe.stop()

    def bot(self, name: str, **settings: str) -> BotProcess:
        """The bot with its production polling settings unless a section says otherwise."""
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        production = {
            "APIFRAME_POLL_INTERVAL_SECONDS": "4",
            "APIFRAME_MAX_POLL_INTERVAL_SECONDS": "30",
            "APIFRAME_TYPICAL_RENDER_SECONDS": "180",
            "APIFRAME_MAX_REQUESTS_PER_SECOND": "10",
            "PROGRESS_EDIT_INTERVAL_SECONDS": "5",
        }
        return BotProcess(
            folder,
            self.discord,
            self.apiframe,
            **{"LOG_LEVEL": "WARNING", **production, **settings},
        )

    async def floor(self) -> asyncio.subprocess.Process:
        identified = self.discord.identifies
        env = self.bot("floor").env
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "bench" / "floor_bot.py"),
            cwd=self.workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await self.discord.wait_for(lambda: self.discord.identifies > identified, within=60)
        await asyncio.sleep(0.5)
        return process

    async def settle_in(self) -> None:
        """Give a just-connected bot time to process READY and its guild."""
        await asyncio.sleep(2.5)


async def burst(discord: FakeDiscord, count: int) -> list[float]:
    members = [discord.add_member(f"b{index}") for index in range(count)]
    interactions: list[FakeInteraction] = await asyncio.gather(
        *[
            discord.invoke("hailuo", hailuo(f"burst {index}"), member=member)
            for index, member in enumerate(members)
        ]
    )
    await discord.wait_for(lambda: all(i.callback_at for i in interactions), within=120)
    return [i.callback_at - i.sent_at for i in interactions if i.callback_at]


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def table(rows: list[Row]) -> str:
    lines = [
        "| measure | bot | floor / reference | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.measure} | {row.bot} | {row.reference} | {row.ratio} | {row.target} | {met} |"
        )
    return "\n".join(lines)
