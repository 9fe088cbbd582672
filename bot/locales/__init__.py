"""Message catalogues, one folder per language (see bot/i18n.py)."""
