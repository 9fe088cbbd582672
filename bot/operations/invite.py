"""The link that adds the bot to a server, with exactly the scopes and permissions it uses."""

from __future__ import annotations

from typing import Final

# View Channels, Send Messages, Send Messages in Threads, Embed Links, Attach Files and Read
# Message History: everything the bot posts, and nothing more.
INVITE_PERMISSIONS: Final = 274878024704


def invite_url(application_id: int | None) -> str:
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    )
