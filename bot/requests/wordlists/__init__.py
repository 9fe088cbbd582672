"""Word lists the bot ships with its code (read with importlib.resources)."""
