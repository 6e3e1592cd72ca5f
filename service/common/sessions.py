"""No cookie sessions: the API is stateless, its clients carry bearer tokens."""

from __future__ import annotations

from typing import Any

from quart import Quart
from quart.sessions import NullSession, SecureCookieSessionInterface

# Shared by every request: a NullSession refuses writes, so none can leak into another.
NO_SESSION = NullSession()


class NoSessions(SecureCookieSessionInterface):
    """Quart's cookie sessions, never opened: the default builds a signer for the session
    cookie on every request, about a tenth of a small request's time, for a cookie nothing
    here reads. (A subclass, since that is the type Quart gives `session_interface`.)"""

    async def open_session(self, app: Quart, request: Any) -> NullSession:
        return NO_SESSION

    async def save_session(self, app: Quart, session: Any, response: Any) -> None:
        return None  # never called: a null session is not saved
