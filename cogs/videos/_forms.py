"""What the forms that start a video share (Extend's, and Animate with Hailuo's): a choice of
model (Hailuo 02 unless changed), errors answered like any other, and the claim that makes a
form's submission carried out once."""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import Language
from bot.requests.rules import DEFAULT_MODEL, PROMPT_MAX_LENGTH, Model
from cogs.front_end._errors import answer_error
from cogs.front_end._replies import first_to_claim


class VideoForm(discord.ui.Modal):
    """A form with a prompt (pre-filled with `prompt`) and the model to make the video with."""

    def __init__(self, *, title: str, lang: Language, label: str, prompt: str) -> None:
        super().__init__(timeout=15 * 60, title=title)
        self.prompt: discord.ui.TextInput[VideoForm] = discord.ui.TextInput(
            label=label,
            style=discord.TextStyle.paragraph,
            max_length=PROMPT_MAX_LENGTH,
            default=prompt[:PROMPT_MAX_LENGTH] or None,
        )
        self.add_item(self.prompt)
        # Every model starts from a picture, so each is offered (Hailuo 02 if untouched).
        self.model: discord.ui.Select[VideoForm] = discord.ui.Select(
            options=[
                discord.SelectOption(
                    label=model.label, value=model.value, default=model is DEFAULT_MODEL
                )
                for model in Model
            ],
        )
        self.add_item(discord.ui.Label(text=lang.tr("Model"), component=self.model))

    @property
    def chosen_model(self) -> str:
        return self.model.values[0] if self.model.values else DEFAULT_MODEL.value

    # A modal's on_error takes no item (discord.py's own signature; its stubs say otherwise).
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await answer_error(interaction, error)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await first_to_claim(interaction)
