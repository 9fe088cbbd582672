"""Money: everything that moves or limits credits.

- `ledger.py`: the `Ledger`, the one way credits move (open an account, top up an allowance,
  reserve a job's price, charge or refund it once, an admin's grant or set), each move one
  transaction in its `LedgerStore`, stamped, counted and told to the audit trail.
- `rules.py`: the decisions every move takes the same way, whichever engine keeps the ledger:
  ledger entries and their kinds, top-ups, the monthly cap, what a refusal says, and what
  `db verify` reports.
- `allowances.py`: periodic allowances and when their periods begin (UTC).
- `pricing.py`: what a video costs.
- `servers.py`: a server's settings (starting balance, allowances, cap, limits, audit channel),
  checked before they are kept.

What it promises: a balance never goes below zero, a member never spends more than they were
given, a job is reserved, charged and refunded at most once each, a server's monthly cap is
never crossed by one credit, and an allowance tops up once per period.
"""
