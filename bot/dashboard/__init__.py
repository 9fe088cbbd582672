"""The admin dashboard: a server's credits and videos in a browser, served by the bot's own
HTTP server under `/dashboard` when `DASHBOARD_PUBLIC_URL` and `DISCORD_CLIENT_SECRET` are set.

- `oauth.py`: "Login with Discord" (OAuth2 authorization code, scopes `identify guilds`).
- `directory.py`: what the dashboard asks of Discord through the bot (who may manage a server
  right now, names, deleting a video's message), as a protocol `bot/app.py` implements.
- `site.py`: the pages, their forms and the session, CSRF and content-security rules.
- `figures.py`: the numbers and the spend chart of a server's overview.
- `templates/` (Jinja2, autoescaped) and `static/` (its stylesheet and one small script).

Every page reads and every form writes through the same domain code as the slash commands:
the ledger's moves, the server's settings, its rules and saved defaults, the studio's Delete.
"""
