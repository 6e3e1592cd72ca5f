"""User services: typed async functions over one session; they flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Row, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.sessions import end_sessions
from service.database import find_row, flush_unique
from service.extensions import passwords
from service.products.models import Product
from service.users.exceptions import CurrentPasswordInvalid, EmailTaken, UserNotFound
from service.users.models import User
from service.users.schemas import UserCreate, UserRead, UserStats, UserUpdate

# Hot reads, built once: SQLAlchemy derives a statement's cache key per statement object,
# which cost more than running the query; rows, not ORM objects, since they are only read,
# and only what clients see (the password hash never leaves the database on a read).
PUBLIC_COLUMNS = [User.__table__.c[name] for name in UserRead.model_fields]
USER_BY_ID = select(*PUBLIC_COLUMNS).where(User.id == bindparam("user_id"))
USER_COUNT = select(func.count()).select_from(User.__table__)
# A page and the total in one round trip: the count is a subquery the database runs once.
USER_PAGE = (
    select(*PUBLIC_COLUMNS, USER_COUNT.scalar_subquery().label("total"))
    .order_by(User.id)
    .offset(bindparam("skip"))
    .limit(bindparam("rows"))
)
# OFFSET and LIMIT take a signed 64-bit integer; a page past this has no rows anyway.
MAX_ROWS = 2**63 - 1


async def user_row(session: AsyncSession, user_id: int) -> Row[Any]:
    """The user with this id, as a row to read; raises UserNotFound."""
    row = (await session.execute(USER_BY_ID, {"user_id": user_id})).first()
    if row is None:
        raise UserNotFound(user_id)
    return row


async def get_user(session: AsyncSession, user_id: int, *, for_update: bool = False) -> User:
    """The user with this id (`for_update`: locked and reloaded); raises UserNotFound."""
    user = await find_row(session, User, user_id, for_update=for_update)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this email (any case), or None."""
    return await session.scalar(select(User).where(User.email == email.lower()))


async def list_users(
    session: AsyncSession, *, offset: int, limit: int
) -> tuple[Sequence[Row[*tuple[Any, ...]]], int]:
    """One page of users by id (rows), and the total count: one query, two past the end."""
    page = {"skip": min(offset, MAX_ROWS), "rows": min(limit, MAX_ROWS)}
    rows = (await session.execute(USER_PAGE, page)).all()
    if not rows:
        return [], int(await session.scalar(USER_COUNT) or 0)
    return rows, int(rows[0].total)


async def list_users_after(
    session: AsyncSession, *, after_id: int | None, limit: int
) -> Sequence[User]:
    """Up to `limit` users with an id above `after_id` (keyset page)."""
    query = select(User).order_by(User.id).limit(limit)
    if after_id is not None:
        query = query.where(User.id > after_id)
    return (await session.scalars(query)).all()


async def create_user(session: AsyncSession, *, data: UserCreate) -> User:
    """A new user with a hashed password; raises EmailTaken."""
    if await find_user_by_email(session, data.email) is not None:
        raise EmailTaken()
    password_hash = await passwords.hash_password(data.password)
    user = User(**data.model_dump(exclude={"password"}), password_hash=password_hash)
    session.add(user)
    await flush_unique(session, EmailTaken)
    return user


async def update_user(
    session: AsyncSession, user: User, *, data: UserUpdate, by_self: bool = False
) -> User:
    """Apply the given fields; a new password ends every login of the user.

    `by_self`: the user changes their own account, so a new password needs the current
    one (a stolen token alone must not take the account over).
    """
    if data.password is not None and by_self:
        if data.current_password is None:
            raise CurrentPasswordInvalid("Required to change the password")
        if not await passwords.verify_password(user.password_hash, data.current_password):
            raise CurrentPasswordInvalid("Does not match the current password")
    email = data.email
    if email is not None and email != user.email and await find_user_by_email(session, email):
        raise EmailTaken()
    # Left-out fields are unset (PartialBody refuses nulls), so only given ones apply.
    fields = data.model_dump(exclude_unset=True, include={"email", "name", "is_admin"})
    for name, value in fields.items():
        setattr(user, name, value)
    if data.password is not None:
        user.password_hash = await passwords.hash_password(data.password)
        user.token_version += 1
        await end_sessions(session, user_id=user.id)
    await flush_unique(session, EmailTaken)
    return user


async def delete_user(session: AsyncSession, user: User) -> None:
    """Delete the user; their products go with them (ON DELETE CASCADE)."""
    await session.delete(user)
    await session.flush()


async def user_stats(session: AsyncSession, user_id: int) -> UserStats:
    """How many products the user owns and their summed price; raises UserNotFound."""
    await get_user(session, user_id)
    # The sum can pass a 32-bit integer; cast so every backend returns a 64-bit one.
    query = select(
        func.count(Product.id),
        func.coalesce(cast(func.sum(Product.price_cents), BigInteger), 0),
    ).where(Product.owner_id == user_id)
    count, total = (await session.execute(query)).one()
    return UserStats(user_id=user_id, product_count=int(count), total_value_cents=int(total))
