"""Hailuo 02's input rules, as pure functions.

A `GenerationRequest` goes in; a `VideoSpec` comes out, or `RequestRejected` carrying every
problem found, each written for the member with the fix. Nothing here does I/O: image facts come
either from Discord's attachment metadata or from `inspect_image`, which reads headers only.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bot.errors import RequestRejected
from bot.i18n import Text, msg
from bot.requests.camera import bracket_problems, parse_moves, with_moves

PROMPT_MAX_LENGTH: Final = 2000
IMAGE_MAX_BYTES: Final = 20_000_000
IMAGE_MIN_SHORT_SIDE: Final = 300
# Aspect ratio bounds 2:5 .. 5:2, kept as integers so the comparison is exact.
ASPECT_NUMERATOR: Final = 5
ASPECT_DENOMINATOR: Final = 2
DURATIONS: Final = (6, 10)

# Pillow format name -> the MIME type Apiframe and Discord use for it.
ACCEPTED_FORMATS: Final[dict[str, str]] = {
    "JPEG": "image/jpeg",
    # A phone's JPEG with a second picture after the first (Multi-Picture Format): a JPEG to
    # everyone who reads its first frame, as Apiframe and Discord do.
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
# The only decoders Pillow may try on a member's bytes: no other format's code ever runs.
OPENED_FORMATS: Final = ("JPEG", "PNG", "WEBP")
_EXTENSIONS: Final[dict[str, str]] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jfif": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}


class Resolution(StrEnum):
    P768 = "768p"
    P1080 = "1080p"


class Model(StrEnum):
    """The Hailuo models Apiframe serves on one endpoint, by Apiframe's model id."""

    HAILUO_02 = "hailuo-02"
    HAILUO_23 = "hailuo-2.3"
    HAILUO_23_FAST = "hailuo-2.3-fast"

    @property
    def label(self) -> str:
        """The model's name as members see it (a name, so never translated)."""
        return MODEL_TITLES[self]

    @property
    def takes_end_image(self) -> bool:
        """Only Hailuo 02 interpolates between a start and an end image."""
        return self is Model.HAILUO_02

    @property
    def needs_start_image(self) -> bool:
        """Hailuo 2.3 Fast makes videos from a picture only, never from words alone."""
        return self is Model.HAILUO_23_FAST


DEFAULT_MODEL: Final = Model.HAILUO_02
MODEL_TITLES: Final[dict[Model, str]] = {
    Model.HAILUO_02: "Hailuo 02",
    Model.HAILUO_23: "Hailuo 2.3",
    Model.HAILUO_23_FAST: "Hailuo 2.3 Fast",
}


class ImageRole(StrEnum):
    START = "start"
    END = "end"

    def label(self, filename: str) -> Text:
        """How a problem names the image: by its role and its file name."""
        if self is ImageRole.START:
            return msg("The start image `{filename}`", filename=filename)
        return msg("The end image `{filename}`", filename=filename)


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What is known of one image: declared by Discord, or read from its bytes."""

    filename: str
    content_type: str | None
    size_bytes: int
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A member's request as it arrived, before any rule was applied."""

    prompt: str
    duration: int = 6
    resolution: str = Resolution.P768.value
    prompt_optimizer: bool | None = None
    start_image: ImageFacts | None = None
    end_image: ImageFacts | None = None
    camera: str = ""  # camera moves, comma-separated (the `camera` option)
    model: str = DEFAULT_MODEL.value


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """A request that passed every rule: safe to price and to send."""

    prompt: str
    duration: int
    resolution: Resolution
    prompt_optimizer: bool | None
    has_start_image: bool
    has_end_image: bool
    model: Model = DEFAULT_MODEL


CONTROLS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def prompt_length(prompt: str) -> int:
    """Length as Apiframe counts it (JavaScript string length: UTF-16 code units)."""
    return len(prompt.encode("utf-16-le")) // 2


def without_controls(text: str) -> str:
    """Text less its control characters (NUL, escapes, C1 codes) but for tabs and line breaks:
    nothing a member means, and nothing a model or a database should be sent."""
    return CONTROLS.sub("", text)


def validate_request(request: GenerationRequest) -> VideoSpec:
    """Apply every rule; raise `RequestRejected` listing all problems at once."""
    problems: list[Text] = []
    moves, camera_problems = parse_moves(request.camera)
    problems.extend(camera_problems)
    typed = without_controls(request.prompt).strip()
    problems.extend(bracket_problems(typed))
    prompt = with_moves(typed, moves) if typed else ""
    length = prompt_length(prompt)
    if length == 0:
        problems.append(msg("The prompt is empty: describe the video you want."))
    elif length > PROMPT_MAX_LENGTH:
        problems.append(
            msg(
                "The prompt is {length:,} characters long; the limit is {limit:,}. "
                "Shorten it by {over:,}.",
                length=length,
                limit=PROMPT_MAX_LENGTH,
                over=length - PROMPT_MAX_LENGTH,
            )
        )

    resolution: Resolution | None = None
    try:
        resolution = Resolution(request.resolution)
    except ValueError:
        problems.append(msg("Resolution must be 768p or 1080p."))
    if request.duration not in DURATIONS:
        problems.append(msg("Duration must be 6 or 10 seconds."))
    if resolution is Resolution.P1080 and request.duration == 10:
        problems.append(msg("1080p is 6 s only: pick 768p for 10 s, or 6 s for 1080p."))

    model: Model | None = None
    try:
        model = Model(request.model)
    except ValueError:
        problems.append(msg("Model must be Hailuo 02, Hailuo 2.3 or Hailuo 2.3 Fast."))
    if request.end_image is not None and model is not None and not model.takes_end_image:
        problems.append(
            msg(
                "{model} takes no end image: choose the model Hailuo 02 to go from a start "
                "to an end image, or leave out `end_image`.",
                model=model.label,
            )
        )
    elif request.end_image is not None and request.start_image is None:
        problems.append(
            msg(
                "An end image needs a start image: attach the first frame as `image`, "
                "or send this picture as `image` on its own."
            )
        )
    if model is not None and model.needs_start_image and request.start_image is None:
        problems.append(
            msg(
                "{model} starts from a picture: attach one as `image`, or choose Hailuo 2.3 "
                "or Hailuo 02 to make a video from words alone.",
                model=model.label,
            )
        )
    for role, facts in ((ImageRole.START, request.start_image), (ImageRole.END, request.end_image)):
        if facts is not None:
            problems.extend(image_problems(role, facts))

    if problems or resolution is None or model is None:
        raise RequestRejected(problems)
    return VideoSpec(
        prompt=prompt,
        duration=request.duration,
        resolution=resolution,
        prompt_optimizer=request.prompt_optimizer,
        has_start_image=request.start_image is not None,
        has_end_image=request.end_image is not None,
        model=model,
    )


def declared_type(facts: ImageFacts) -> str | None:
    """The MIME type Discord declared, or else the one the file name suggests."""
    if facts.content_type:
        return facts.content_type.split(";", 1)[0].strip().lower()
    extension = facts.filename.rsplit(".", 1)[-1].lower() if "." in facts.filename else ""
    return _EXTENSIONS.get(extension)


def image_problems(role: ImageRole, facts: ImageFacts) -> list[Text]:
    """Every rule one image breaks, judged from the facts known so far."""
    label = role.label(facts.filename)
    problems: list[Text] = []
    mime = declared_type(facts)
    if mime is None:
        problems.append(
            msg("{image} is a file of unknown type: use a JPEG, PNG or WebP image.", image=label)
        )
    elif mime not in ACCEPTED_FORMATS.values():
        problems.append(
            msg("{image} is {type}: use a JPEG, PNG or WebP image.", image=label, type=mime)
        )
    if facts.size_bytes <= 0:
        problems.append(msg("{image} is empty: attach the picture again.", image=label))
    elif facts.size_bytes > IMAGE_MAX_BYTES:
        problems.append(
            msg(
                "{image} is {size:.1f} MB; the limit is {limit} MB: compress or resize it.",
                image=label,
                size=facts.size_bytes / 1_000_000,
                limit=IMAGE_MAX_BYTES // 1_000_000,
            )
        )
    if facts.width is not None and facts.height is not None:
        width, height = facts.width, facts.height
        if min(width, height) < IMAGE_MIN_SHORT_SIDE:
            problems.append(
                msg(
                    "{image} is {width}×{height} px; its short side must be at least "
                    "{minimum} px: use a larger picture.",
                    image=label,
                    width=width,
                    height=height,
                    minimum=IMAGE_MIN_SHORT_SIDE,
                )
            )
        elif not aspect_ratio_allowed(width, height):
            problems.append(
                msg(
                    "{image} is {width}×{height} px, too wide: "
                    "the aspect ratio must be between 2:5 and 5:2, so crop it.",
                    image=label,
                    width=width,
                    height=height,
                )
                if width > height
                else msg(
                    "{image} is {width}×{height} px, too tall: "
                    "the aspect ratio must be between 2:5 and 5:2, so crop it.",
                    image=label,
                    width=width,
                    height=height,
                )
            )
    return problems


def aspect_ratio_allowed(width: int, height: int) -> bool:
    return (
        ASPECT_DENOMINATOR * width <= ASPECT_NUMERATOR * height
        and ASPECT_DENOMINATOR * height <= ASPECT_NUMERATOR * width
    )


# Formats members send by mistake, told by their first bytes (never decoded), to name them in
# the refusal.
MAGIC: Final = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
)


def sniffed_format(data: bytes) -> str | None:
    for magic, name in MAGIC:
        if data.startswith(magic):
            return name
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "HEIC"
    return None


def inspect_image(role: ImageRole, declared: ImageFacts, data: bytes) -> ImageFacts:
    """Read the true type and size from an image's bytes (headers only, never the pixels).

    Raises `RequestRejected` when the bytes are no image, a truncated or hostile one, or a
    different type from the one declared. The returned facts still go through `image_problems`.
    """
    # Pillow only when a picture is attached: a bot that starts never pays for it.
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    label = role.label(declared.filename)
    if not data:
        raise RequestRejected([msg("{image} is empty: attach the picture again.", image=label)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=OPENED_FORMATS) as image:
                image_format = image.format or ""
                width, height = image.size
                frames = getattr(image, "n_frames", 1) if image_format != "MPO" else 1
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestRejected(
            [
                msg(
                    "{image} claims to be far too many pixels to be a real picture: "
                    "use another file.",
                    image=label,
                )
            ]
        ) from None
    except UnidentifiedImageError:
        kind = sniffed_format(data)
        raise RequestRejected(
            [
                msg(
                    "{image} is really a {format} file: use a JPEG, PNG or WebP image.",
                    image=label,
                    format=kind,
                )
                if kind
                else msg(
                    "{image} is not a picture the bot can read: use a JPEG, PNG or WebP image.",
                    image=label,
                )
            ]
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise RequestRejected(
            [msg("{image} is damaged or cut short: export it again and re-attach it.", image=label)]
        ) from None

    if frames > 1:
        raise RequestRejected(
            [
                msg(
                    "{image} is animated ({frames} frames): use a still picture, such as one "
                    "frame of it saved as a PNG.",
                    image=label,
                    frames=frames,
                )
            ]
        )
    actual = ACCEPTED_FORMATS.get(image_format)
    if actual is None:
        raise RequestRejected(
            [
                msg(
                    "{image} is really a {format} file: use a JPEG, PNG or WebP image.",
                    image=label,
                    format=image_format or "?",
                )
            ]
        )
    claimed = declared_type(declared)
    if claimed is not None and claimed != actual:
        raise RequestRejected(
            [
                msg(
                    "{image} says it is {claimed} but its contents are {actual}: "
                    "save it in the format its name says, and attach it again.",
                    image=label,
                    claimed=claimed,
                    actual=actual,
                )
            ]
        )
    return ImageFacts(
        filename=declared.filename,
        content_type=actual,
        size_bytes=len(data),
        width=width,
        height=height,
    )
