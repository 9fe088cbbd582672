"""The benchmark at tiny sizes, so that it keeps working. Its timings are not judged here:
shared machines are too noisy for that; `python -m bench` measures them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.run import run
from bench.stage import Sizes, table


@pytest.mark.slow
async def test_the_benchmark_runs_end_to_end_at_tiny_sizes(tmp_path: Path) -> None:
    rows = await run(Sizes.smoke(), tmp_path, write=False)
    measures = [row.measure for row in rows]
    for fragment in (
        "answer latency",
        "ledger",
        "lag after the video exists",
        "lag with webhooks",
        "checks per job",
        "memory growth",
        "CPU",
        "/credits answer",
        "busiest second",
        "cold start",
        "blocked words",
        "Extend: CPU",
        "Components V2 card",
        "forged webhooks",
        "dashboard overview",
        "dashboard spend chart",
    ):
        assert any(fragment in measure for measure in measures), fragment
    integrity = next(row for row in rows if "double spends" in row.measure)
    assert integrity.bot == "0" and integrity.met
    assert "| measure | bot |" in table(rows)
