"""5. Blocked words: one server's 1,000 entries against a long prompt, beside a search per
entry."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

from bench.stage import Row, Sizes, ms, percentile
from bot.requests.wordfilter import BlockedWords, fold


async def blocked_words(workdir: Path, sizes: Sizes) -> list[Row]:
    """Matching a 2,000-character prompt against 1,000 blocked entries: the bot's one compiled
    pattern beside a plain loop of one search per entry (with the same folding). Two prompts:
    ordinary words, and a worst case whose every word shares its beginning with entries."""
    rng = random.Random(12)
    letters = "abcdefghijklmnopqrstuvwxyz"
    entries = [
        "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
        for _ in range(sizes.blocked_entries)
    ]
    ordinary = " ".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(400)
    )[:2000]
    near_misses = " ".join(entry[:-1] for entry in entries)[:2000]
    began = time.perf_counter()
    compiled = BlockedWords(entries)
    build = time.perf_counter() - began
    plain = [re.compile(rf"(?<![a-z0-9]){re.escape(fold(e))}(?![a-z0-9])") for e in entries]

    def plain_loop(text: str) -> list[str]:
        folded = fold(text)
        return [e for e, pattern in zip(entries, plain, strict=True) if pattern.search(folded)]

    rows = [Row(f"blocked words: compile {len(entries)} entries", ms(build), "", "", "", None)]
    for label, prompt in (("ordinary prompt", ordinary), ("every word a near miss", near_misses)):
        ours = [_timed(compiled.found_in, prompt) for _ in range(sizes.match_rounds)]
        theirs = [_timed(plain_loop, prompt) for _ in range(sizes.match_rounds)]
        p99, ref = percentile(ours, 0.99), percentile(theirs, 0.99)
        rows.append(
            Row(
                f"blocked words: {len(entries)} entries, 2,000 characters, {label}, p99",
                ms(p99),
                f"{ms(ref)} (one search per entry)",
                f"{p99 / ref:.2f}×",
                "< 5 ms",
                p99 < 0.005,
            )
        )
    return rows


def _timed(work: Callable[[str], object], prompt: str) -> float:
    began = time.perf_counter()
    work(prompt)
    return time.perf_counter() - began
