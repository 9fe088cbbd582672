"""Apiframe: the API that makes the videos, and a stand-in for it.

- `client.py`: the v2 client (uploads, submissions, job checks, the account), with typed errors
  and retries only where a repeat is safe.
- `budget.py`: one rate budget for every request, served by priority.
- `webhooks.py`: Apiframe's webhook signatures.
- `simulator.py`: a local Apiframe that makes real MP4s, for trying the bot without a bill.

What it promises: a 429 slows every request rather than multiplying them; a submission repeated
after any failure asks for the same job; the API key is never logged.
"""
