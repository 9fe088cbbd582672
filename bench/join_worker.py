"""Run in a process of its own by the stories section (`bench/stories.py`): join the clips in a
folder and print the CPU seconds and the memory the join added to the process's peak, as JSON.

`python -m bench.join_worker <folder> <copy|read>`: `copy` joins the clips as a story does;
`read` only reads every packet of them (the floor any join pays)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _peak_mb() -> float:
    """This process's peak resident memory so far. Read from /proc (VmHWM), not getrusage:
    Linux keeps a parent's ru_maxrss across fork and exec, so a worker started by a large
    bench process would report the bench's peak as its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def _read_every_packet(clips: list[Path]) -> None:
    import av

    for clip in clips:
        with av.open(str(clip)) as container:
            for _packet in container.demux(container.streams.video[0]):
                pass


def main() -> None:
    folder, how = Path(sys.argv[1]), sys.argv[2]
    clips = sorted(folder.glob("clip-*.mp4"))
    import av  # noqa: F401  (loaded before the baseline, as in a bot that has joined before)

    from bot.media.joining import join_clips

    idle = _peak_mb()
    began = time.process_time()
    if how == "copy":
        join_clips(clips, folder / "story.mp4")
    else:
        _read_every_packet(clips)
    cpu = time.process_time() - began
    print(json.dumps({"cpu": cpu, "idle_mb": idle, "added_mb": _peak_mb() - idle}))


if __name__ == "__main__":
    main()
