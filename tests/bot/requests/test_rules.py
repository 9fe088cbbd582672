"""The rule checker: every refusal names its fix, and valid requests always pass."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import RequestRejected
from bot.money.pricing import price_of
from bot.requests.rules import (
    IMAGE_MAX_BYTES,
    GenerationRequest,
    ImageFacts,
    ImageRole,
    Resolution,
    aspect_ratio_allowed,
    inspect_image,
    validate_request,
    without_controls,
)
from tests.conftest import image_bytes


def png(
    width: int = 1024,
    height: int = 768,
    *,
    size: int = 200_000,
    content_type: str | None = "image/png",
    name: str = "frame.png",
) -> ImageFacts:
    return ImageFacts(
        filename=name, content_type=content_type, size_bytes=size, width=width, height=height
    )


def problems(request: GenerationRequest) -> list[str]:
    with pytest.raises(RequestRejected) as caught:
        validate_request(request)
    return [str(problem) for problem in caught.value.problems]


def test_1080p_at_10_seconds_is_refused_with_the_fix() -> None:
    [problem] = problems(GenerationRequest("a cat", duration=10, resolution="1080p"))
    assert "1080p is 6 s only" in problem and "768p for 10 s" in problem


def test_end_image_without_start_image_is_refused() -> None:
    [problem] = problems(GenerationRequest("a cat", end_image=png()))
    assert "end image needs a start image" in problem


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        GenerationRequest(
            "x" * 2001,
            duration=10,
            resolution="1080p",
            end_image=png(100, 100, content_type="image/gif", size=IMAGE_MAX_BYTES + 1),
        )
    )
    joined = "\n".join(found)
    assert len(found) == 6
    for fragment in (
        "2,001 characters",
        "1080p is 6 s only",
        "needs a start image",
        "image/gif",
        "MB; the limit is 20 MB",
        "short side",
    ):
        assert fragment in joined


def test_prompt_length_counts_like_apiframe() -> None:
    # 1,001 emoji are 2,002 UTF-16 code units: too long for Apiframe though only 1,001 chars.
    [problem] = problems(GenerationRequest("🎬" * 1001))
    assert "2,002 characters" in problem
    assert validate_request(GenerationRequest("🎬" * 1000)).prompt == "🎬" * 1000


def test_blank_prompt_is_refused() -> None:
    [problem] = problems(GenerationRequest("   \n "))
    assert "prompt is empty" in problem


@pytest.mark.parametrize(
    ("width", "height", "fragment"),
    [
        (299, 600, "short side"),
        (600, 299, "short side"),
        (1600, 600, "too wide"),
        (600, 1600, "too tall"),
    ],
)
def test_image_shape_rules(width: int, height: int, fragment: str) -> None:
    [problem] = problems(GenerationRequest("a cat", start_image=png(width, height)))
    assert fragment in problem


def test_image_type_falls_back_to_the_file_name() -> None:
    spec = validate_request(
        GenerationRequest("a cat", start_image=png(content_type=None, name="frame.webp"))
    )
    assert spec.has_start_image
    [problem] = problems(
        GenerationRequest("a cat", start_image=png(content_type=None, name="frame.bmp"))
    )
    assert "unknown type" in problem


sizes = st.integers(min_value=1, max_value=5000)


@given(width=sizes, height=sizes)
def test_aspect_rule_matches_the_fraction(width: int, height: int) -> None:
    assert aspect_ratio_allowed(width, height) == (0.4 <= width / height <= 2.5)


@given(
    prompt=st.text(min_size=1, max_size=50).filter(lambda s: without_controls(s).strip()),
    duration=st.sampled_from([6, 10]),
    resolution=st.sampled_from(["768p", "1080p"]),
    start=st.none() | st.tuples(sizes, sizes, st.integers(0, 30_000_000)),
    end=st.none() | st.tuples(sizes, sizes, st.integers(0, 30_000_000)),
)
def test_any_combination_is_accepted_exactly_when_every_rule_holds(
    prompt: str,
    duration: int,
    resolution: str,
    start: tuple[int, int, int] | None,
    end: tuple[int, int, int] | None,
) -> None:
    def facts(found: tuple[int, int, int] | None) -> ImageFacts | None:
        return None if found is None else png(found[0], found[1], size=found[2])

    def image_ok(found: tuple[int, int, int] | None) -> bool:
        if found is None:
            return True
        width, height, size = found
        return (
            0 < size <= IMAGE_MAX_BYTES
            and min(width, height) >= 300
            and aspect_ratio_allowed(width, height)
        )

    request = GenerationRequest(prompt, duration, resolution, None, facts(start), facts(end))
    expected = (
        not (resolution == "1080p" and duration == 10)
        and not (end is not None and start is None)
        and image_ok(start)
        and image_ok(end)
    )
    try:
        spec = validate_request(request)
    except RequestRejected as rejected:
        assert not expected
        assert rejected.problems
        assert all(str(p).strip() for p in rejected.problems)
    else:
        assert expected
        assert price_of(spec) in (5, 8, 10)


def test_inspect_reads_true_type_and_size_from_bytes() -> None:
    data = image_bytes(640, 480, "JPEG")
    facts = inspect_image(ImageRole.START, png(1, 1, content_type="image/jpeg", name="a.jpg"), data)
    assert (facts.content_type, facts.width, facts.height) == ("image/jpeg", 640, 480)


def test_a_file_that_lies_about_its_type_is_refused() -> None:
    data = image_bytes(640, 480, "JPEG")
    with pytest.raises(RequestRejected) as caught:
        inspect_image(ImageRole.START, png(content_type="image/png"), data)
    assert "says it is image/png but its contents are image/jpeg" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "is empty"),
        (b"GIF89a" + b"\0" * 100, "really a GIF file"),
        (b"this is not an image at all", "not a picture"),
    ],
)
def test_broken_bytes_are_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        inspect_image(ImageRole.START, png(), data)
    assert fragment in str(caught.value)


def test_gif_bytes_are_refused_even_when_readable() -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (400, 400)).save(buffer, format="GIF")
    with pytest.raises(RequestRejected) as caught:
        inspect_image(ImageRole.START, png(content_type=None, name="a.gif"), buffer.getvalue())
    assert "really a GIF file" in str(caught.value)


def still(width: int, height: int, frames: int, image_format: str) -> bytes:
    import io

    from PIL import Image

    pictures = [Image.new("RGB", (width, height), (n * 40, 90, 200)) for n in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format=image_format, save_all=frames > 1, append_images=pictures[1:])
    return buffer.getvalue()


def test_a_phone_jpeg_with_a_second_picture_is_a_jpeg() -> None:
    data = still(800, 600, 2, "MPO")
    facts = inspect_image(ImageRole.START, png(content_type="image/jpeg", name="a.jpg"), data)
    assert (facts.content_type, facts.width, facts.height) == ("image/jpeg", 800, 600)


@pytest.mark.parametrize(("image_format", "kind"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_an_animated_picture_is_refused_with_its_fix(image_format: str, kind: str) -> None:
    data = still(800, 600, 3, image_format)
    with pytest.raises(RequestRejected) as caught:
        inspect_image(ImageRole.START, png(content_type=kind), data)
    assert "is animated (3 frames): use a still picture" in str(caught.value)


@pytest.mark.parametrize(("image_format", "name"), [("BMP", "BMP"), ("TIFF", "TIFF")])
def test_other_formats_are_named_and_never_decoded(image_format: str, name: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        inspect_image(ImageRole.START, png(content_type=None), still(800, 600, 1, image_format))
    assert f"really a {name} file: use a JPEG, PNG or WebP image" in str(caught.value)


def test_truncated_png_is_refused() -> None:
    data = image_bytes(640, 480)
    with pytest.raises(RequestRejected) as caught:
        inspect_image(ImageRole.START, png(), data[: len(data) // 2])
    assert "damaged or cut short" in str(caught.value)


def test_decompression_bomb_header_is_refused_without_decoding() -> None:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    with pytest.raises(RequestRejected) as caught:
        inspect_image(ImageRole.START, png(), bomb)
    assert "too many pixels" in str(caught.value)


def test_spec_carries_the_validated_values() -> None:
    spec = validate_request(GenerationRequest("  a cat  ", 10, "768p", True, png(), png()))
    assert (spec.prompt, spec.duration, spec.resolution) == ("a cat", 10, Resolution.P768)
    assert spec.prompt_optimizer is True and spec.has_start_image and spec.has_end_image
