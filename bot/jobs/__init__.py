"""Jobs: what a job is, and the steps of its life after its price was reserved.

- `records.py`: its states (they only move forward), its records, its server's queue limits,
  and what the bot needs of the store that keeps them across restarts (`JobStore`).
- `submission.py`: sending it to Apiframe, images first, once (one Idempotency-Key per job).
- `watching.py`: following it by polling and webhook news until Apiframe says it has ended.
- `polling.py`: when to check a job again, learned from the bot's own finished jobs.
- `delivery.py`: the outcome reaching the member, with the video as a file when it fits.

What it promises: every step first stores what it learned, then acts, so a job is never lost;
news never decides an outcome by itself; no step here moves money (the runner, in
`bot/runner.py`, settles a job once, through the ledger).
"""
