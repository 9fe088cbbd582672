"""11. Stories: joining five 10 s 1080p clips into one MP4, its CPU and the memory it adds to the
process, beside only reading the same clips' packets (the floor of any join); and the weak case,
clips that do not match and are encoded again."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

from bench.stage import ROOT, Row, Sizes
from bot.media.joining import join_clips

SCENES = 5
RATE = 24


def _rendered_clip(seconds: int, width: int, height: int, quality: int = 14) -> bytes:
    """A clip at about a rendered video's bitrate (a 10 s 1080p Hailuo clip is some 15 MB): a
    sharp noise field panning across, encoded at a high quality, a keyframe every 2 s."""
    import io

    import av
    from PIL import Image, ImageFilter

    field = Image.merge(
        "RGB", [Image.effect_noise((width * 2, height), sigma) for sigma in (40, 60, 80)]
    ).filter(ImageFilter.GaussianBlur(1))
    step = width / (seconds * RATE)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * RATE
        stream.options = {"crf": str(quality), "preset": "ultrafast"}
        for index in range(seconds * RATE):
            left = int(index * step)
            picture = field.crop((left, 0, left + width, height))
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


async def _measure(folder: Path, how: str) -> dict[str, float]:
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.join_worker",
        str(folder),
        how,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await worker.communicate()
    if worker.returncode != 0:
        raise RuntimeError(f"bench.join_worker {how} failed")
    return dict(json.loads(out))


async def stories(workdir: Path, sizes: Sizes) -> list[Row]:
    """What a story's join costs, measured in a process of its own."""
    folder = workdir / "story-clips"
    folder.mkdir(parents=True, exist_ok=True)
    width, height = sizes.story_size
    seconds = sizes.story_seconds
    # One clip with texture and motion, five times: the copy path reads every byte of each
    # whatever it shows.
    clip = await asyncio.to_thread(_rendered_clip, seconds, width, height)
    for scene in range(SCENES):
        (folder / f"clip-{scene}.mp4").write_bytes(clip)
    size_mb = SCENES * len(clip) / 1_000_000
    joined = await _measure(folder, "copy")
    floor = await _measure(folder, "read")
    label = f"{SCENES} clips of {seconds} s at {height}p ({size_mb:.0f} MB together)"
    rows = [
        Row(
            f"story: CPU to join {label}",
            f"{joined['cpu']:.2f} s",
            f"{floor['cpu']:.2f} s (reading every packet only)",
            f"{joined['cpu'] / max(floor['cpu'], 1e-3):.1f}×",
            "< 2 s",
            joined["cpu"] < 2.0,
        ),
        Row(
            f"story: memory the join adds to the process, {label}",
            f"{joined['added_mb']:.0f} MB",
            f"{joined['idle_mb']:.0f} MB (the process before it)",
            "",
            "< 100 MB",
            joined["added_mb"] < 100,
        ),
    ]
    # The weak case: clips that differ (a size apart) are decoded and encoded again; a story's
    # own clips never do, and the join's time bound (120 s) stops one that runs long.
    other = await asyncio.to_thread(_rendered_clip, 2, width // 2, height // 2)
    short = await asyncio.to_thread(_rendered_clip, 2, width, height)
    mixed = workdir / "story-mixed"
    mixed.mkdir(exist_ok=True)
    (mixed / "clip-0.mp4").write_bytes(short)
    (mixed / "clip-1.mp4").write_bytes(other)
    began = time.process_time()
    copied = await asyncio.to_thread(
        join_clips, [mixed / "clip-0.mp4", mixed / "clip-1.mp4"], mixed / "story.mp4"
    )
    spent = time.process_time() - began
    rows.append(
        Row(
            f"story: CPU to join two 2 s {height}p clips of different sizes (encoded again)",
            f"{spent:.2f} s",
            "",
            "",
            "within the 120 s bound",
            not copied and spent < 120,
        )
    )
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(mixed, ignore_errors=True)
    return rows
