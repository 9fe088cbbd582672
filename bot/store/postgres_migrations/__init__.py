"""PostgreSQL schema migrations, applied in order by bot/store/postgres.py."""
