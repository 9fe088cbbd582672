"""Camera moves: the option's parser, hand-written brackets, autocomplete, the last frame."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.errors import RequestRejected
from bot.media.frames import FrameUnavailable, last_frame
from bot.requests.camera import MOVES, bracket_problems, parse_moves, suggestions, with_moves
from bot.requests.rules import GenerationRequest, validate_request
from testkit.media import small_mp4


def test_moves_are_read_in_any_case_and_spacing() -> None:
    assert parse_moves(" pan LEFT,  pedestal   up ") == (("Pan left", "Pedestal up"), [])
    assert parse_moves("") == ((), [])
    assert parse_moves("Zoom in, zoom in") == (("Zoom in",), [])


def test_at_most_three_moves_combine() -> None:
    moves, problems = parse_moves("Pan left, Tilt up, Zoom in, Shake")
    assert len(moves) == 4 and [str(p) for p in problems] == [
        "At most 3 camera moves can be combined; you gave 4."
    ]


def test_an_unknown_move_gets_the_closest_one() -> None:
    _, problems = parse_moves("Zoom inn")
    assert [str(p) for p in problems] == [
        "`Zoom inn` is not a camera move: did you mean `Zoom in`?"
    ]
    _, far = parse_moves("do a barrel roll")
    assert "pick one from the list" in str(far[0])


def test_moves_join_the_prompt_in_the_models_syntax() -> None:
    assert with_moves("a fox", ("Pan left", "Pedestal up")) == "a fox [Pan left,Pedestal up]"
    spec = validate_request(GenerationRequest("a fox", camera="Push in"))
    assert spec.prompt == "a fox [Push in]"


def test_hand_written_brackets_keep_working_and_near_misses_are_caught() -> None:
    assert bracket_problems("a fox [Push in] then [Pan left,Tilt up]") == []
    assert bracket_problems("a sign that says [OPEN]") == []  # not trying to be a move
    [problem] = bracket_problems("a fox [Pan lefft]")
    assert "did you mean `[Pan left]`" in str(problem)
    with pytest.raises(RequestRejected):
        validate_request(GenerationRequest("a fox [Tilt upp]"))


def test_the_camera_suffix_counts_toward_the_prompt_limit() -> None:
    with pytest.raises(RequestRejected, match="limit is 2,000"):
        validate_request(GenerationRequest("x" * 1995, camera="Pedestal down"))


@pytest.mark.parametrize(
    ("typed", "first"),
    [("", "Truck left"), ("ped", "Pedestal up"), ("Pan left, ped", "Pan left, Pedestal up")],
)
def test_autocomplete_completes_the_last_move(typed: str, first: str) -> None:
    found = suggestions(typed)
    assert found[0] == first and len(found) <= 25
    assert all(choice.count(",") == typed.count(",") for choice in found)


def test_autocomplete_offers_every_move_and_stops_at_three() -> None:
    assert len(suggestions("")) == len(MOVES) == 15
    assert suggestions("Pan left, Tilt up, Zoom in, ") == ["Pan left, Tilt up, Zoom in"]


def test_the_last_frame_of_a_real_mp4() -> None:
    png = last_frame(small_mp4(width=480, height=320))
    with Image.open(io.BytesIO(png)) as frame:
        assert frame.format == "PNG" and frame.size == (480, 320)
        red, _, blue = frame.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
        assert blue > 200 and red < 60  # the clip fades from red to blue


def test_a_broken_video_has_no_last_frame() -> None:
    with pytest.raises(FrameUnavailable):
        last_frame(b"\0\0\0\x18ftypisom" + b"\0" * 64)
