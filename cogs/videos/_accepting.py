"""What every way of asking for a video shares on Discord: who and where it came from, and how
an accepted job is announced (the private acknowledgement, then the public card)."""

from __future__ import annotations

import logging
from typing import Any, Final

import discord

from bot.i18n import Language
from bot.jobs.records import Job, PaidFrom, RequestOrigin, personal_space
from bot.services import Services
from bot.studio import Accepted
from cogs.front_end._cards import progress_layout
from cogs.front_end._language import language_of
from cogs.front_end._replies import member_roles
from cogs.front_end._words import job_card
from cogs.front_end._words import simulated as show_simulated

log = logging.getLogger(__name__)

BAD_REQUEST: Final = 400


def in_server(interaction: discord.Interaction[Any]) -> bool:
    """Whether the request comes from a server that added the bot (its rules, credits and
    queue apply), rather than from the member's own account: a direct message, or a server
    that has not added it, where only Discord's user install authorised the command."""
    if interaction.guild_id is None:
        return False
    return interaction.is_guild_integration() or not interaction.is_user_integration()


def origin_of(interaction: discord.Interaction[Any]) -> RequestOrigin:
    """Who asked, where, and the token to answer them with. On the member's own account the
    request lives in their personal space (`personal_space`), paid from their wallet."""
    guild_id = (
        interaction.guild_id
        if in_server(interaction) and interaction.guild_id is not None
        else personal_space(interaction.user.id)
    )
    return RequestOrigin(
        guild_id=guild_id,
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
        said = (
            lang.tr(
                "Accepted: {model}, **{price}** credits reserved from your wallet, **{left}** "
                "left in it. Follow your video below; if it fails, the credits go back to your "
                "wallet.",
                model=saved.model.label,
                price=accepted.price,
                left=accepted.balance_left,
            )
            if accepted.paid_from is PaidFrom.WALLET
            else lang.tr(
                "Accepted: {model}, **{price}** credits reserved, **{left}** left. Follow your "
                "video below; if it fails, the credits come back.",
                model=saved.model.label,
                price=accepted.price,
                left=accepted.balance_left,
            )
        )
        await interaction.edit_original_response(content=said + note)
        card_id = await post_card(interaction, lang, saved, simulated=simulated, v2=v2)
    except discord.HTTPException:
        log.warning(
            "job %s: could not post its card; the outcome will still be delivered",
            accepted.job_id,
            exc_info=True,
        )
    finally:
        await services.studio.admit(accepted.job_id, accepted.guild_id, card_message_id=card_id)


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
