"""The poll schedule: few calls per job, a short lag, and never faster than the floor."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.polling import PollShape
from bot.rules import Resolution


def simulate(shape: PollShape, render: float, expected: float,
             with_progress: bool = True) -> tuple[int, float, list[float]]:
    """Poll a job that finishes at `render` seconds with linear progress."""
    elapsed, calls, gaps = 0.0, 0, []
    while True:
        progress = int(100 * elapsed / render) if with_progress and elapsed < render else None
        delay = shape.next_delay(elapsed, progress, expected)
        gaps.append(delay)
        elapsed += delay
        calls += 1
        if elapsed >= render:
            return calls, elapsed - render, gaps


def test_a_typical_job_takes_few_calls_and_little_lag() -> None:
    shape = PollShape()
    rng = random.Random(5)
    results = [simulate(shape, max(60.0, rng.gauss(180, 40)), 180.0) for _ in range(500)]
    mean_calls = sum(r[0] for r in results) / len(results)
    mean_lag = sum(r[1] for r in results) / len(results)
    assert mean_calls <= 12
    assert mean_lag <= 5


@given(render=st.floats(min_value=1, max_value=3600), expected=st.floats(min_value=1,
                                                                         max_value=600),
       with_progress=st.booleans())
def test_never_faster_than_the_floor_nor_slower_than_the_ceiling(
        render: float, expected: float, with_progress: bool) -> None:
    shape = PollShape(floor=2.0, ceiling=60.0)
    _, lag, gaps = simulate(shape, render, expected, with_progress)
    assert all(2.0 <= gap <= 60.0 for gap in gaps)
    assert lag <= 60.0


@pytest.mark.parametrize(("duration", "resolution", "seconds"), [
    (6, Resolution.P768, 180.0), (10, Resolution.P768, 270.0), (6, Resolution.P1080, 216.0),
])
def test_expected_render_time_grows_with_length_and_resolution(
        duration: int, resolution: Resolution, seconds: float) -> None:
    assert PollShape().expected_render(duration, resolution) == pytest.approx(seconds)
