"""What every way of asking for a video shares on Discord: who and where it came from, and how
an accepted job is announced (the private acknowledgement, then the public card)."""

from __future__ import annotations

import logging
from typing import Any, Final

import discord
from discord import app_commands

from bot.i18n import Language
from bot.jobs.records import Job, RequestOrigin
from bot.requests.camera import suggestions
from bot.requests.rules import Model, Resolution
from bot.services import Services
from bot.studio import Accepted
from cogs._cards import progress_layout
from cogs._components import member_roles
from cogs._language import language_of
from cogs._messages import job_card
from cogs._messages import simulated as show_simulated

log = logging.getLogger(__name__)

BAD_REQUEST: Final = 400

# The options every way of choosing a video's length and resolution offers.
DURATION_CHOICES: Final = [
    app_commands.Choice(name="6 seconds", value=6),
    app_commands.Choice(name="10 seconds", value=10),
]
RESOLUTION_CHOICES: Final = [
    app_commands.Choice(name=resolution.value, value=resolution.value) for resolution in Resolution
]
# Named after the models, as members know them; the value is Apiframe's model id.
MODEL_CHOICES: Final = [app_commands.Choice(name=model.label, value=model.value) for model in Model]


async def camera_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete for every `camera` option: the moves that complete what was typed."""
    return [app_commands.Choice(name=text, value=text) for text in suggestions(current)]


def origin_of(interaction: discord.Interaction[Any]) -> RequestOrigin:
    """Who asked, where, and the token to answer them with."""
    assert interaction.guild_id is not None
    return RequestOrigin(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        member_id=interaction.user.id,
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        interaction_created_at=interaction.created_at,
        role_ids=member_roles(interaction),
        upload_limit=interaction.filesize_limit,
        age_restricted=bool(getattr(interaction.channel, "nsfw", False)),
        language=language_of(interaction).code,
    )


async def announce(
    interaction: discord.Interaction[Any], services: Services, accepted: Accepted, note: str = ""
) -> None:
    """Tell the member privately what was reserved, post the job's public card, and let the
    job into its server's queue (the card or not: the outcome is delivered either way)."""
    card_id: int | None = None
    lang = language_of(interaction)
    v2 = services.settings.card_style == "v2"
    try:
        saved = await services.jobs.require(accepted.job_id)
        simulated = services.settings.apiframe_simulate
        await interaction.edit_original_response(
            content=lang.tr(
                "Accepted: {model}, **{price}** credits reserved, **{left}** left. Follow your "
                "video below; if it fails, the credits come back.",
                model=saved.model.label,
                price=accepted.price,
                left=accepted.balance_left,
            )
            + note
        )
        card_id = await post_card(interaction, lang, saved, simulated=simulated, v2=v2)
    except discord.HTTPException:
        log.warning(
            "job %s: could not post its card; the outcome will still be delivered",
            accepted.job_id,
            exc_info=True,
        )
    finally:
        assert interaction.guild_id is not None
        await services.studio.admit(accepted.job_id, interaction.guild_id, card_message_id=card_id)


async def post_card(
    interaction: discord.Interaction[Any], lang: Language, job: Job, *, simulated: bool, v2: bool
) -> int:
    """The job's public card (a followup to the member's command); its message id."""
    if v2:
        try:
            card = await interaction.followup.send(
                view=progress_layout(lang, job, simulated=simulated),
                wait=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return card.id
        except discord.HTTPException as exc:
            if exc.status != BAD_REQUEST:
                raise
            log.warning(
                "job %s: Discord refused its Components V2 card (HTTP %s: %s); posting the "
                "classic card",
                job.id,
                exc.status,
                exc.text,
            )
    card = await interaction.followup.send(
        show_simulated(lang, job_card(lang, job), simulated),
        wait=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )
    return card.id
