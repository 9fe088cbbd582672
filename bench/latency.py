"""1. Answer latency under a burst: INTERACTION_CREATE leaving the fake gateway -> the interaction
callback reaching the fake REST, for the real bot and for a bare discord.py bot that only defers
(`bench/floor_bot.py`); and the same burst's answers and job cards with the Components V2 card
beside the classic one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.stage import Row, Sizes, Stage, burst, ms, percentile, stop
from testkit.commands import hailuo
from testkit.fake_apiframe import JobScript
from testkit.fake_discord import FakeInteraction, FakeMessage


async def measure_burst(workdir: Path, count: int, *, floor: bool) -> list[float]:
    """Latencies of `count` commands at once, each side on a fresh fake Discord, so neither
    bot's run can leave state (connections, messages, members) that the other pays for."""
    async with Stage(workdir / f"latency-{'floor' if floor else 'bot'}-{count}") as stage:
        stage.apiframe.default_script = JobScript(polls_before_done=10**9)
        if floor:
            process = await stage.floor()
        else:
            bot = stage.bot("bot")
            await bot.start()
        await stage.settle_in()
        await burst(stage.discord, 5)  # warm up
        times = await burst(stage.discord, count)
        if floor:
            await stop(process)
        else:
            await bot.close()
    return times


async def answer_latency(workdir: Path, sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    for count in (sizes.burst, sizes.big_burst):
        floor_times = await measure_burst(workdir, count, floor=True)
        bot_times = await measure_burst(workdir, count, floor=False)
        floor_p99, bot_p99 = percentile(floor_times, 0.99), percentile(bot_times, 0.99)
        for label, share in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            ours, floor_value = percentile(bot_times, share), percentile(floor_times, share)
            target, met = "", None
            if label == "p99":
                target = "≤ 1.5× floor" + ("" if count == sizes.burst else ", < 1 s")
                met = bot_p99 <= 1.5 * floor_p99 if count == sizes.burst else bot_p99 < 1.0
            rows.append(
                Row(
                    f"answer latency, {count} at once, {label}",
                    ms(ours),
                    ms(floor_value),
                    f"{ours / floor_value:.2f}×",
                    target,
                    met,
                )
            )
    return rows


async def measure_cards(workdir: Path, count: int, style: str) -> tuple[list[float], list[float]]:
    """`count` commands at once with the given card style: the seconds to each answer, and
    to each job's public card (posted after the answer, so the style's cost shows there)."""
    async with Stage(workdir / f"cards-{style}-{count}") as stage:
        stage.apiframe.default_script = JobScript(polls_before_done=10**9)
        bot = stage.bot("bot", CARD_STYLE=style)
        await bot.start()
        await stage.settle_in()
        await burst(stage.discord, 5)  # warm up
        members = [stage.discord.add_member(f"c{index}") for index in range(count)]
        interactions: list[FakeInteraction] = await asyncio.gather(
            *[
                stage.discord.invoke("hailuo", hailuo(f"card {index}"), member=member)
                for index, member in enumerate(members)
            ]
        )

        def card(interaction: FakeInteraction) -> FakeMessage | None:
            found = [m for m in stage.discord.replies_to(interaction) if not m.ephemeral]
            return found[0] if found else None

        await stage.discord.wait_for(
            lambda: all(card(i) is not None for i in interactions), within=120
        )
        await bot.close()
    answers = [i.callback_at - i.sent_at for i in interactions if i.callback_at]
    cards = [card_of.created_at - i.created_at for i in interactions if (card_of := card(i))]
    return answers, cards


async def card_latency(workdir: Path, sizes: Sizes) -> list[Row]:
    """The V2 card beside the classic one, for the same burst."""
    classic_answers, classic_cards = await measure_cards(workdir, sizes.burst, "classic")
    v2_answers, v2_cards = await measure_cards(workdir, sizes.burst, "v2")
    rows = []
    for label, ours, theirs in (
        ("answer", v2_answers, classic_answers),
        ("card posted", v2_cards, classic_cards),
    ):
        p99, ref = percentile(ours, 0.99), percentile(theirs, 0.99)
        rows.append(
            Row(
                f"{label}, {sizes.burst} at once, p99: Components V2 card (reference: classic)",
                ms(p99),
                ms(ref),
                f"{p99 / ref:.2f}×",
                "",
                None,
            )
        )
    return rows
