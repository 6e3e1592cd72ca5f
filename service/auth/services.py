"""Login: constant-time-ish credential checks and transparent password rehashing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.exceptions import InvalidCredentials
from service.extensions import passwords
from service.users.models import User
from service.users.services import find_user_by_email


async def authenticate_user(session: AsyncSession, *, email: str, password: str) -> User:
    """The user these credentials belong to; raises InvalidCredentials (same for both causes)."""
    user = await find_user_by_email(session, email)
    if user is None:
        await passwords.verify_dummy(password)
    if user is None or not await passwords.verify_password(user.password_hash, password):
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
        await session.flush()
    return user
