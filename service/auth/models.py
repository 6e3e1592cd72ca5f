"""Logins as durable rows: a token is only as alive as the login it names."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.database import Base, UTCDateTime, utcnow


class AuthSession(Base):
    """One login. Its tokens carry its id (`sid`); refresh rotation moves `refresh_jti`.

    Not `Session`, which would read as SQLAlchemy's. The id is random, never a counter,
    so it says nothing about other logins.
    """

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The newest refresh token's expiry: after it no token of this login is valid.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    # The one refresh token of this login that may be used; an older one is a replay.
    refresh_jti: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
