"""The admin dashboard: a server's credits and videos in a browser, served by the bot's own
HTTP server under `/dashboard` when `DASHBOARD_PUBLIC_URL` and `DISCORD_CLIENT_SECRET` are set.

- `app.py`: the application, its middlewares and session cookies, and its route table.
- `middlewares.py`: the security headers on every answer, and the guard of a server's pages
  (logged in, Manage Server by the bot's own view of the member now, CSRF on every form).
- `auth.py`: "Login with Discord" and Log out; `oauth.py`: Discord's OAuth2 authorization
  code flow (scopes `identify guilds`).
- `pages.py`: a server's pages; `forms.py`: its forms, one small function per settings section.
- `site.py`: what the pages share (the bot's services, rendering in the reader's language).
- `reading.py`: what the pages read from the stores, as protocols; `caches.py`: names and
  thumbnails kept between pages; `values.py`: numbers and ids read from requests.
- `directory.py`: what the dashboard asks of Discord (who may manage a server right now, names,
  deleting a video's message), as a protocol the Discord client implements.
- `figures.py`: the overview's numbers and its spend chart.
- `templates/` (Jinja2, autoescaped) and `static/` (its stylesheet and one small script).

Every page reads and every form writes through the same domain code as the slash commands:
the ledger's moves, the server's settings, its rules and saved defaults, the studio's Delete.
"""
