"""Discord-facing commands and the code that talks to members. Modules starting with `_` are
helpers, not extensions."""
