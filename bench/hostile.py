"""8. Hostile input: Extend's last frame beside decoding the whole clip, and answer latency while
forged webhooks pour in beside the same bot left alone."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.stage import ROOT, Row, Sizes, Stage, burst, ms, percentile
from bot.media.frames import last_frame, png_of
from testkit.fake_apiframe import JobScript
from testkit.harness import free_port


def _panning_clip(seconds: int, width: int, height: int, keyframe_every: int | None) -> bytes:
    """A clip with texture and motion (a noise field panning across), so its P-frames cost
    what a rendered video's do; flat colours would make every decoder look fast."""
    from PIL import Image, ImageFilter

    from bot.media.frames import encode_clip

    rate = 24
    field = Image.merge(
        "RGB", [Image.effect_noise((width * 2, height), sigma) for sigma in (40, 60, 80)]
    ).filter(ImageFilter.GaussianBlur(4))
    step = width / (seconds * rate)
    pictures = [
        field.crop((int(index * step), 0, int(index * step) + width, height))
        for index in range(seconds * rate)
    ]
    return encode_clip(pictures, rate, keyframe_every=keyframe_every)


def _every_frame_pictured(video: bytes) -> bytes:
    """The reference, Extend as it was: every frame decoded from the start and each made a
    picture, the last one kept (and made a PNG the same way)."""
    import io

    import av

    with av.open(io.BytesIO(video), mode="r") as container:
        last = None
        for frame in container.decode(container.streams.video[0]):
            frame.to_image()  # type: ignore[no-untyped-call]
            last = frame
    assert last is not None
    return png_of(last)


def _cpu(work: Callable[[bytes], bytes], video: bytes, rounds: int) -> float:
    """The median CPU seconds of one call, the decoder's own threads included (nothing else
    in the process is busy while it runs)."""
    spent = []
    for _ in range(rounds):
        began = time.process_time()
        work(video)
        spent.append(time.process_time() - began)
    return statistics.median(spent)


async def _burst_beside_flood(workdir: Path, sizes: Sizes, flood: bool) -> tuple[list[float], str]:
    """`sizes.burst` commands at once on a bot with webhooks on, with or without forged
    deliveries arriving at `sizes.flood_rate` a second from another process."""
    name = "flood" if flood else "calm"
    async with Stage(workdir / f"hostile-{name}") as stage:
        stage.apiframe.default_script = JobScript(polls_before_done=10**9)
        port = free_port()
        url = f"http://127.0.0.1:{port}/apiframe/webhook"
        bot = stage.bot("bot", HTTP_PORT=str(port), APIFRAME_WEBHOOK_URL=url)
        await bot.start()
        await stage.settle_in()
        await burst(stage.discord, 5)  # warm up
        flooder = None
        if flood:
            flooder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.flood",
                url,
                str(sizes.flood_rate),
                str(sizes.flood_seconds),
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
            await asyncio.sleep(sizes.flood_seconds / 3)  # the flood at full rate
        times = await burst(stage.discord, sizes.burst)
        report = ""
        if flooder is not None:
            out, _ = await flooder.communicate()
            summary = json.loads(out)
            answers = summary["answers"]
            refused = sum(n for code, n in answers.items() if code.startswith("4"))
            report = (
                f"{refused:,} of {summary['sent']:,} refused "
                f"({', '.join(f'{n:,} × {code}' for code, n in sorted(answers.items()))}), "
                f"{summary['rate']:,.0f} a second"
            )
        await bot.close()
    return times, report


async def hostile(workdir: Path, sizes: Sizes) -> list[Row]:
    """What hostile or merely heavy input costs. Extend's last frame, decoded from the last
    keyframe, beside decoding the whole clip; and answer latency while forged webhooks pour
    in, beside the same bot left alone."""
    rows: list[Row] = []
    width, height = sizes.extend_size
    clips = (("a keyframe every 2 s", 48), ("one keyframe (worst case)", 10**4))
    for label, keyframe_every in clips:
        video = await asyncio.to_thread(
            _panning_clip, sizes.extend_seconds, width, height, keyframe_every
        )
        ours = _cpu(last_frame, video, sizes.extend_rounds)
        before = _cpu(_every_frame_pictured, video, sizes.extend_rounds)
        rows.append(
            Row(
                f"Extend: CPU for the last frame of a {sizes.extend_seconds} s {height}p clip, "
                f"{label}",
                f"{ours * 1000:.0f} ms",
                f"{before * 1000:.0f} ms (every frame made a picture, as before)",
                f"{ours / before:.2f}×",
                "< before",
                ours < before,
            )
        )
    calm, _ = await _burst_beside_flood(workdir, sizes, flood=False)
    flooded, report = await _burst_beside_flood(workdir, sizes, flood=True)
    calm_p99, flooded_p99 = percentile(calm, 0.99), percentile(flooded, 0.99)
    rows.append(
        Row(
            f"answer latency, {sizes.burst} at once, during {sizes.flood_rate:,} forged "
            "webhooks a second, p99",
            ms(flooded_p99),
            f"{ms(calm_p99)} (no flood)",
            f"{flooded_p99 / calm_p99:.2f}×",
            "≤ 1.5× no flood",
            flooded_p99 <= 1.5 * calm_p99,
        )
    )
    rows.append(Row("forged webhooks during that burst", report, "", "", "all refused", None))
    return rows
