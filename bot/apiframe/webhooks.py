"""Apiframe's webhook signatures: HMAC-SHA256 over the raw body, keyed with the raw 32-byte
SHA-256 digest of the API key (not its hex), sent as `sha256=<hex>` (bare hex also seen) and
compared in constant time. The bot checks them (`bot/operations/web.py`); the simulator makes
them."""

from __future__ import annotations

import hashlib
import hmac

from bot.settings import Secret


def webhook_signing_key(api_key: Secret) -> bytes:
    """Apiframe signs with the raw 32-byte SHA-256 digest of the API key, not its hex."""
    return hashlib.sha256(api_key.get_secret_value().encode()).digest()


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_valid(key: bytes, body: bytes, header: str | None) -> bool:
    """Whether the header signs this body; any malformed header (not ASCII hex, say) is
    simply not a valid signature."""
    if not header or not header.isascii():
        return False
    given = header.strip()
    if given.lower().startswith("sha256="):
        given = given[len("sha256=") :]
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.lower().encode(), expected.encode())
