from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.database import Base, UTCDateTime, utcnow


class IdempotencyKey(Base):
    """A caller's `Idempotency-Key`: claimed by the first request, then holding its answer.

    `status_code` is null while the first request runs (its claim lasts until
    `locked_until`); the answer is written in the same transaction as the request's own
    write, so a commit either stored both or neither.
    """

    __tablename__ = "idempotency_key"

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # HMAC of method, path and canonical body: a body holding a password is not kept
    # in a form that a copy of the database alone could test guesses against.
    fingerprint: Mapped[str] = mapped_column(String(64))
    claim_token: Mapped[str] = mapped_column(String(32))
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
