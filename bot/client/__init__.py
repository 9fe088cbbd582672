"""The Discord side of the bot: the one package under `bot/` that imports discord.py.

- `bot.py`: `HailuoBot`, the discord.py client. It owns the `Assembly` (everything that decides,
  built without Discord) and drives its life from discord.py's hooks, loads the front end and
  the features from `cogs/` by name, and keeps the slash commands in sync.
- `startup.py`: everything before the gateway (database, HTTP port, Discord's login, the
  Apiframe account), each failure one line, network failures retried with backoff.
- `directory.py`: what the dashboard asks of Discord (who may manage a server, names), answered
  from the client's cache and Discord's REST API.

Nothing here decides anything about credits, jobs or rules: it translates Discord in and out.
"""

from bot.client.bot import HailuoBot
from bot.client.startup import start_up

__all__ = ["HailuoBot", "start_up"]
