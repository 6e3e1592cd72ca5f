"""Login: constant-time-ish credential checks and transparent password rehashing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.exceptions import InvalidCredentials
from service.extensions import passwords
from service.users.models import User


async def authenticate_user(session: AsyncSession, user: User | None, *, password: str) -> User:
    """`user` (found by the login's email) if the password is theirs; raises
    InvalidCredentials (the same for both causes, and as slow)."""
    if user is None:
        await passwords.verify_dummy(password)
    if user is None or not await passwords.verify_password(user.password_hash, password):
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
        await session.flush()
    return user
