"""Option builders for slash-command payloads, as Discord sends them."""

from __future__ import annotations

from typing import Any


def opt(name: str, value: Any, kind: int) -> dict[str, Any]:
    return {"name": name, "type": kind, "value": value}


def text(name: str, value: str) -> dict[str, Any]:
    return opt(name, value, 3)


def integer(name: str, value: int) -> dict[str, Any]:
    return opt(name, value, 4)


def boolean(name: str, value: bool) -> dict[str, Any]:
    return opt(name, value, 5)


def user(name: str, user_id: int) -> dict[str, Any]:
    return opt(name, str(user_id), 6)


def attachment(name: str, attachment_id: str) -> dict[str, Any]:
    return opt(name, attachment_id, 11)


def sub(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": 1, "options": list(options)}


def hailuo(
    prompt: str,
    *,
    duration: int | None = None,
    resolution: str | None = None,
    image: dict[str, Any] | None = None,
    end_image: dict[str, Any] | None = None,
    prompt_optimizer: bool | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    options = [text("prompt", prompt)]
    if model is not None:
        options.append(text("model", model))
    if duration is not None:
        options.append(integer("duration", duration))
    if resolution is not None:
        options.append(text("resolution", resolution))
    if image is not None:
        options.append(attachment("image", image["id"]))
    if end_image is not None:
        options.append(attachment("end_image", end_image["id"]))
    if prompt_optimizer is not None:
        options.append(boolean("prompt_optimizer", prompt_optimizer))
    return options
