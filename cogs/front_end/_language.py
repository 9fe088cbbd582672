"""Which language a member is answered in, and the slash commands in their language.

Texts come from the catalogues in `bot/locales` (see `bot/i18n.py`). A member is answered in
their Discord client's language when the bot speaks it, else in the server's preferred
language, else in English. The same catalogues give Discord the commands' localised names,
descriptions and choices through discord.py's `Translator`, under three gettext contexts.
"""

from __future__ import annotations

from typing import Any, Final

import discord
from discord import app_commands

from bot.i18n import Language, catalogues

Location = app_commands.TranslationContextLocation

CONTEXTS: Final = {
    Location.command_name: "command name",
    Location.group_name: "command name",
    Location.parameter_name: "command name",
    Location.command_description: "command description",
    Location.group_description: "command description",
    Location.parameter_description: "command description",
    Location.choice_name: "choice",
}


def language_of(interaction: discord.Interaction[Any]) -> Language:
    """The language to answer this interaction in."""
    guild_locale = interaction.guild_locale
    return catalogues().choose(
        interaction.locale.value, guild_locale.value if guild_locale is not None else None
    )


def server_language(guild: discord.Guild | None) -> Language:
    """The language of messages meant for a whole server (its audit channel)."""
    return catalogues().choose(guild.preferred_locale.value if guild is not None else None)


class CommandTranslator(app_commands.Translator):
    """Gives Discord each command string in every language the catalogues have."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        where = CONTEXTS.get(context.location)
        language = catalogues().find(locale.value)
        if where is None or language is None:
            return None
        return language.command(string.message, where)
