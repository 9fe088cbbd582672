"""SQLite schema migrations, applied in order by bot/store/sqlite.py."""
