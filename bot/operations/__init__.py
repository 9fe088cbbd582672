"""Running the bot as a service, for its owner.

- `web.py`: the HTTP server (health, readiness, metrics, Apiframe's webhooks).
- `audit.py`: every ledger row posted to its server's audit channel, in order, across restarts.
- `reports.py`: a server's ledger as CSV.
- `check.py`: `python -m bot check`, the set-up checked piece by piece.
- `cli.py`: the owner's shell commands (`credits`, `ledger`, `db`).
- `invite.py`: the link that adds the bot to a server.

What it promises: every answer to the owner is one line that names the fix, never a traceback
or a secret.
"""
