"""Requests: what a member may ask for, decided before anything is charged.

- `rules.py`: Hailuo's input rules as pure functions (a request in; a validated spec, or every
  problem with its fix, out), images checked from their headers only.
- `camera.py`: camera moves, from the `camera` option or written in brackets.
- `wordfilter.py`: matching a prompt against blocked words through the usual disguises, in time
  linear in the prompt whatever the entries.
- `server_rules.py`: a server's blocked words and adult-content setting (with the shipped word
  list in `wordlists/`).
- `defaults.py`: saved option defaults, a member's and a server's, and their precedence.

What it promises: nothing here does I/O but through a store, and a request that breaks a rule
is refused with every problem and its fix at once.
"""
