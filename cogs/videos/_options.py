"""The options every command that chooses a video's shape offers (`/hailuo`, `/hailuo-defaults`,
`/quota defaults`, and the stories to come): their choices and the camera's autocomplete,
declared once here and put on a command with `@video_options`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import discord
from discord import app_commands

from bot.requests.camera import suggestions
from bot.requests.rules import Model, Resolution

DURATION_CHOICES: Final = [
    app_commands.Choice(name="6 seconds", value=6),
    app_commands.Choice(name="10 seconds", value=10),
]
RESOLUTION_CHOICES: Final = [
    app_commands.Choice(name=resolution.value, value=resolution.value) for resolution in Resolution
]
# Named after the models, as members know them; the value is Apiframe's model id.
MODEL_CHOICES: Final = [app_commands.Choice(name=model.label, value=model.value) for model in Model]
# What the camera option takes: up to three moves, as text (checked by the request's rules).
Camera = app_commands.Range[str, 0, 200]

Command = TypeVar("Command", bound=Callable[..., Any])


async def camera_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete for every `camera` option: the moves that complete what was typed."""
    return [app_commands.Choice(name=text, value=text) for text in suggestions(current)]


def video_options(command: Command) -> Command:
    """The choices of `duration`, `resolution` and `model`, and the camera's autocomplete, on a
    command that has those four options."""
    command = app_commands.choices(duration=DURATION_CHOICES)(command)
    command = app_commands.choices(resolution=RESOLUTION_CHOICES)(command)
    command = app_commands.choices(model=MODEL_CHOICES)(command)
    return app_commands.autocomplete(camera=camera_choices)(command)
