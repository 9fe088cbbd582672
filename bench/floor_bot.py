"""The floor for answer latency: a bare discord.py bot whose only handler defers.

It is started exactly as the real bot is (same environment, same fake Discord), so the
difference between the two is what the real bot's `/hailuo` costs before it answers.
"""

from __future__ import annotations

import asyncio
import os

import discord
import yarl
from discord import app_commands


async def main() -> None:
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE_URL"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    intents = discord.Intents.none()
    intents.guilds = True
    client = discord.Client(intents=intents)
    tree = app_commands.CommandTree(client)

    @tree.command(name="hailuo", description="defer only")
    async def hailuo(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)

    @client.event
    async def setup_hook() -> None:
        await tree.sync()

    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
