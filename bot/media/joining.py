"""Clips joined into one MP4 with PyAV, for a story: copied packet by packet when every clip
shares its codec parameters (Hailuo's clips of one story do), else decoded and encoded again at
the first clip's size. Bounded like Extend's decoding: the clips' size, the time a join may take,
and how many run at once for the whole bot. Clips and the join are files, read and written a
packet at a time: five 1080p clips never sit in memory at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from bot.errors import HailuoBotError
from bot.media.frames import FrameUnavailable, check_frame_size

JOINS_AT_ONCE: Final = 1
JOIN_TIMEOUT: Final = 120.0
# Five clips of the largest Hailuo makes are far below this; more is not a story of them.
JOIN_MAX_BYTES: Final = 250 * 1024 * 1024
ENCODED_RATE: Final = 24  # the encoder's guide; each frame keeps its own time
ENCODED_TICKS: Final = 90_000


class JoinFailed(HailuoBotError):
    """The clips could not be joined (the reason is in the message)."""


@dataclass(frozen=True, slots=True)
class _Shape:
    """What must match for packets to be copied from one clip into the next unchanged."""

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    extradata: bytes | None
    time_base: Fraction | None


def join_clips(clips: Sequence[Path], target: Path) -> bool:
    """Write the clips one after the other to `target` as one MP4 (video only); whether the
    packets were copied (True) or encoded again (False). Raises `JoinFailed`."""
    import av  # noqa: PLC0415

    if not clips:
        raise JoinFailed("there is no clip to join")
    try:
        shapes = [_shape_of(clip) for clip in clips]
        if all(shape == shapes[0] for shape in shapes):
            _copy(clips, target)
            return True
        _encode(clips, shapes[0], target)
        return False
    except (av.FFmpegError, FrameUnavailable) as exc:
        raise JoinFailed(f"a clip could not be read ({exc})") from None


def _shape_of(clip: Path) -> _Shape:
    import av  # noqa: PLC0415

    with av.open(str(clip), mode="r") as container:
        if not container.streams.video:
            raise FrameUnavailable("a clip has no video stream")
        stream = container.streams.video[0]
        check_frame_size(stream)
        context = stream.codec_context
        return _Shape(
            context.name,
            context.width,
            context.height,
            None if context.pix_fmt is None else str(context.pix_fmt),
            None if context.extradata is None else bytes(context.extradata),
            stream.time_base,
        )


def _copy(clips: Sequence[Path], target: Path) -> None:
    """Packets copied as they are, each clip's times moved to start where the one before ends."""
    import av  # noqa: PLC0415

    with av.open(str(target), mode="w", format="mp4") as output:
        joined: Any = None
        offset = 0  # in the clips' shared time base
        for clip in clips:
            with av.open(str(clip), mode="r") as source:
                stream = source.streams.video[0]
                if joined is None:
                    joined = output.add_stream_from_template(stream)
                end = offset
                for packet in source.demux(stream):
                    if packet.dts is None:  # the demuxer's empty packet at the end
                        continue
                    step = packet.duration or _frame_ticks(stream)
                    packet.dts += offset
                    if packet.pts is not None:
                        packet.pts += offset
                        end = max(end, packet.pts + step)
                    packet.stream = joined
                    output.mux(packet)
                offset = end


def _frame_ticks(stream: Any) -> int:
    """One frame's length in the stream's time base (for packets that do not say theirs)."""
    rate = stream.average_rate or stream.guessed_rate or ENCODED_RATE
    ticks: int = round(1 / (Fraction(rate) * stream.time_base))
    return max(1, ticks)


def _encode(clips: Sequence[Path], first: _Shape, target: Path) -> None:
    """Every frame decoded and encoded again as H.264 at the first clip's size, each at the
    time it had in its clip after the clips before it (so the join lasts as long as they)."""
    import av  # noqa: PLC0415

    ticks = Fraction(1, ENCODED_TICKS)
    with av.open(str(target), mode="w", format="mp4") as output:
        joined = output.add_stream("libx264", rate=ENCODED_RATE)
        joined.width, joined.height, joined.pix_fmt = first.width, first.height, "yuv420p"
        joined.time_base = ticks
        offset = Fraction(0)  # where this clip starts in the join, in seconds
        last = -1
        for clip in clips:
            with av.open(str(clip), mode="r") as source:
                stream = source.streams.video[0]
                stream.thread_count = 1
                step = 1 / Fraction(stream.average_rate or ENCODED_RATE)
                end = offset
                for frame in source.decode(stream):
                    at = offset + Fraction(frame.time or 0).limit_denominator(ENCODED_TICKS)
                    fitted = frame.reformat(
                        width=first.width, height=first.height, format="yuv420p"
                    )
                    # Strictly rising times, whatever a clip's own say.
                    fitted.pts = max(last + 1, round(at / ticks))
                    fitted.time_base = ticks
                    last = fitted.pts
                    end = max(end, at + step)
                    for packet in joined.encode(fitted):
                        output.mux(packet)
                offset = end
        for packet in joined.encode():
            output.mux(packet)


class Joiner:
    """Joins a story's clips, bounded three ways: their size together, the time one join may
    take, and how many run at once (joining is heavy, and one story's is enough at a time)."""

    def __init__(
        self,
        *,
        at_once: int = JOINS_AT_ONCE,
        timeout: float = JOIN_TIMEOUT,
        max_bytes: int = JOIN_MAX_BYTES,
    ) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._timeout = timeout
        self._max_bytes = max_bytes

    async def join(self, clips: Sequence[Path], target: Path) -> None:
        """Write the clips to `target` as one MP4; raises `JoinFailed` with the reason when it
        cannot."""
        total = await asyncio.to_thread(lambda: sum(clip.stat().st_size for clip in clips))
        if total > self._max_bytes:
            raise JoinFailed(f"the clips together are {total} bytes, over {self._max_bytes}")
        await self._slots.acquire()
        joining: asyncio.Future[bool] | None = None
        try:
            async with asyncio.timeout(self._timeout):
                joining = asyncio.ensure_future(asyncio.to_thread(join_clips, clips, target))
                await asyncio.shield(joining)
        except TimeoutError:
            raise JoinFailed(f"joining took longer than {self._timeout:.0f} s") from None
        finally:
            # A thread cannot be stopped: its slot is freed when it ends.
            if joining is not None and not joining.done():
                joining.add_done_callback(self._let_go)
            else:
                self._slots.release()

    def _let_go(self, joining: asyncio.Future[bool]) -> None:
        """A join given up on has ended: its slot is free (how it ended is of no interest)."""
        if not joining.cancelled():
            joining.exception()
        self._slots.release()
