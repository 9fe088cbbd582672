"""Server-side sessions for the dashboard, as an aiohttp-session storage.

The browser's cookie holds a random id (32 bytes) and nothing else; the session lives in the
database under that id's SHA-256, so that:
- Log out ends it for good (a cookie copied before is worth nothing after);
- the owner ends anyone's sessions from the shell, and a person who lost Manage Server in a
  server loses that server from their session at their next page;
- whoever reads the database cannot make a cookie that works (the id is not kept);
- the cookie stays small, however many servers a person manages;
- every process of a sharded bot reads the same sessions.

A session is made only by a login that Discord confirmed: anonymous visitors write nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Final, Protocol

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, SessionData

from bot.clock import utc_now

ID_BYTES: Final = 32
# Longer than this, a cookie is not an id of ours: it is not looked up.
MAX_COOKIE: Final = 64


class SessionStore(Protocol):
    async def load(self, id_sha256: str, now: datetime) -> str | None: ...
    async def save(
        self, id_sha256: str, user_id: int, data: str, now: datetime, expires_at: datetime
    ) -> None: ...
    async def end(self, id_sha256: str) -> None: ...


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class DatabaseSessions(AbstractStorage):
    def __init__(
        self, store: SessionStore, *, cookie_name: str, path: str, secure: bool, days: int
    ) -> None:
        super().__init__(
            cookie_name=cookie_name,
            path=path,
            secure=secure,
            httponly=True,
            samesite="Lax",
            max_age=days * 86400,
        )
        self._store = store
        self._lifetime = timedelta(days=days)

    async def load_session(self, request: web.Request) -> Session:
        session_id = self.load_cookie(request)
        if not session_id or len(session_id) > MAX_COOKIE:
            return Session(None, data=None, new=True, max_age=self.max_age)
        kept = await self._store.load(digest(session_id), utc_now())
        if kept is None:
            return Session(None, data=None, new=True, max_age=self.max_age)
        # Its expiry is the database's to keep: aiohttp-session is told it was made just now.
        data = SessionData(created=int(time.time()), session=json.loads(kept))
        return Session(session_id, data=data, new=False, max_age=self.max_age)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        if session.empty or "user" not in session:
            # Logged out (or never in): the row goes, and the cookie with it.
            if session.identity:
                await self._store.end(digest(str(session.identity)))
            self.save_cookie(response, "", max_age=session.max_age)
            return
        session_id = session.identity
        if session_id is None:
            session_id = secrets.token_urlsafe(ID_BYTES)
            session.set_new_identity(session_id)
        now = utc_now()
        await self._store.save(
            digest(str(session_id)),
            int(session["user"]),
            json.dumps(dict(session), separators=(",", ":")),
            now,
            now + self._lifetime,
        )
        self.save_cookie(response, str(session_id), max_age=session.max_age)

    async def end(self, session: Session) -> None:
        """End a session now, whatever the response (a new login replaces it)."""
        if session.identity:
            await self._store.end(digest(str(session.identity)))
