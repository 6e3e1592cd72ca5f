"""User services, called directly on a session of each backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.claims import TokenClaims
from service.auth.sessions import list_sessions, new_session_id, start_session
from service.config import Settings
from service.database import find_row, utcnow
from service.extensions import passwords
from service.products import services as products
from service.products.models import Product
from service.products.schemas import ProductCreate
from service.users import services
from service.users.exceptions import CurrentPasswordInvalid, EmailTaken, UserNotFound
from service.users.models import User
from service.users.schemas import UserCreate, UserRead, UserUpdate
from tests.factories import PASSWORD, new_sku


@pytest.fixture(autouse=True)
def _hashing_as_the_settings_say(settings: Settings) -> None:
    # No app is created here, and the app is what sets the hashing cost: set the tests' cheap
    # cost as create_app would, rather than hash at whatever cost another test left behind.
    passwords.configure(settings)


async def _user(session: AsyncSession, email: str = "owner@example.com", **fields: Any) -> User:
    values: dict[str, Any] = {"email": email, "name": "Owner", "password": PASSWORD}
    values.update(fields)
    return await services.create_user(session, data=UserCreate(**values))


async def _login(session: AsyncSession, user: User) -> None:
    refresh = {
        "sub": str(user.id),
        "exp": int((utcnow() + timedelta(hours=1)).timestamp()),
        "iat": int(utcnow().timestamp()),
        "jti": new_session_id(),
        "type": "refresh",
        "user_claims": {"sid": new_session_id(), "ver": user.token_version},
    }
    await start_session(session, refresh=TokenClaims.model_validate(refresh), user_agent=None)


async def _product(session: AsyncSession, owner: User, **fields: Any) -> Product:
    values: dict[str, Any] = {"name": "Widget", "sku": new_sku(), "price_cents": 100}
    values.update(fields)
    return await products.create_product(session, owner_id=owner.id, data=ProductCreate(**values))


async def _live_logins(session: AsyncSession, user: User) -> list[str]:
    return [login.id for login in await list_sessions(session, user_id=user.id)]


async def _nothing_found(_session: AsyncSession, _email: str) -> None:
    return None


# -- create ------------------------------------------------------------------------------


async def test_create_user_hashes_the_password_and_sets_defaults(session: AsyncSession) -> None:
    user = await _user(session, "Mixed.Case@Example.com")
    assert user.id is not None
    assert user.email == "mixed.case@example.com"
    assert user.is_admin is False
    assert user.token_version == 0
    assert user.created_at.tzinfo is not None
    assert user.password_hash != PASSWORD
    assert passwords.is_argon2id_hash(user.password_hash)
    assert await passwords.verify_password(user.password_hash, PASSWORD)


async def test_create_user_as_admin_keeps_the_flag(session: AsyncSession) -> None:
    user = await _user(session, is_admin=True)
    assert user.is_admin is True


async def test_create_user_with_taken_email_in_any_case_raises_email_taken(
    session: AsyncSession,
) -> None:
    await _user(session, "taken@example.com")
    with pytest.raises(EmailTaken):
        await _user(session, "TAKEN@example.com")


async def test_create_user_racing_past_the_precheck_raises_email_taken(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _user(session, "taken@example.com")
    # As if a concurrent request inserted the email after our check: the constraint decides.
    monkeypatch.setattr(services, "find_user_by_email", _nothing_found)
    with pytest.raises(EmailTaken):
        await _user(session, "taken@example.com")


# -- find / get --------------------------------------------------------------------------


async def test_find_user_missing_returns_none_and_get_raises_not_found(
    session: AsyncSession,
) -> None:
    assert await find_row(session, User, 12345) is None
    with pytest.raises(UserNotFound, match="User 12345 not found"):
        await services.get_user(session, 12345)


async def test_get_user_returns_the_user_with_or_without_lock(session: AsyncSession) -> None:
    user = await _user(session)
    assert await services.get_user(session, user.id) is user
    assert await services.get_user(session, user.id, for_update=True) is user


async def test_get_user_for_update_reads_the_row_again(session: AsyncSession) -> None:
    user = await _user(session)
    user_id = user.id
    session.expunge_all()  # a fresh identity map: the row must come from the database
    locked = await services.get_user(session, user_id, for_update=True)
    assert (locked.id, locked.email) == (user_id, "owner@example.com")


async def test_find_user_by_email_matches_any_case(session: AsyncSession) -> None:
    user = await _user(session)
    assert await services.find_user_by_email(session, "OWNER@Example.COM") is user
    assert await services.find_user_by_email(session, "nobody@example.com") is None


# -- update ------------------------------------------------------------------------------


async def test_update_user_changes_only_given_fields(session: AsyncSession) -> None:
    user = await _user(session)
    old_hash = user.password_hash
    await services.update_user(session, user, data=UserUpdate(name="Renamed"))
    assert (user.name, user.email, user.is_admin) == ("Renamed", "owner@example.com", False)
    assert user.password_hash == old_hash
    assert user.token_version == 0


async def test_update_user_to_taken_email_raises_email_taken_and_keeps_the_email(
    session: AsyncSession,
) -> None:
    await _user(session, "taken@example.com")
    user = await _user(session)
    with pytest.raises(EmailTaken):
        await services.update_user(session, user, data=UserUpdate(email="Taken@example.com"))
    assert user.email == "owner@example.com"


async def test_update_user_to_own_email_is_allowed(session: AsyncSession) -> None:
    user = await _user(session)
    await services.update_user(session, user, data=UserUpdate(email="OWNER@example.com"))
    assert user.email == "owner@example.com"


async def test_update_user_email_racing_past_the_precheck_raises_email_taken(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _user(session, "taken@example.com")
    user = await _user(session)
    monkeypatch.setattr(services, "find_user_by_email", _nothing_found)
    with pytest.raises(EmailTaken):
        await services.update_user(session, user, data=UserUpdate(email="taken@example.com"))


async def test_update_user_by_self_new_password_without_current_raises(
    session: AsyncSession,
) -> None:
    user = await _user(session)
    old_hash = user.password_hash
    with pytest.raises(CurrentPasswordInvalid) as raised:
        await services.update_user(
            session, user, data=UserUpdate(password="a new password"), by_self=True
        )
    assert raised.value.details == {
        "fields": {"current_password": ["Required to change the password"]}
    }
    assert (user.password_hash, user.token_version) == (old_hash, 0)


async def test_update_user_by_self_new_password_with_wrong_current_raises(
    session: AsyncSession,
) -> None:
    user = await _user(session)
    old_hash = user.password_hash
    data = UserUpdate(password="a new password", current_password="not the password")
    with pytest.raises(CurrentPasswordInvalid) as raised:
        await services.update_user(session, user, data=data, by_self=True)
    assert raised.value.details == {
        "fields": {"current_password": ["Does not match the current password"]}
    }
    assert (user.password_hash, user.token_version) == (old_hash, 0)


async def test_update_user_by_self_with_right_current_changes_password_and_ends_logins(
    session: AsyncSession,
) -> None:
    user = await _user(session)
    await _login(session, user)
    await _login(session, user)
    assert len(await _live_logins(session, user)) == 2
    data = UserUpdate(password="a new password", current_password=PASSWORD)
    await services.update_user(session, user, data=data, by_self=True)
    assert await passwords.verify_password(user.password_hash, "a new password")
    assert not await passwords.verify_password(user.password_hash, PASSWORD)
    assert user.token_version == 1
    assert await _live_logins(session, user) == []


async def test_update_user_not_by_self_changes_password_without_current(
    session: AsyncSession,
) -> None:
    user = await _user(session)
    await _login(session, user)
    await services.update_user(session, user, data=UserUpdate(password="set by an admin"))
    assert await passwords.verify_password(user.password_hash, "set by an admin")
    assert user.token_version == 1
    assert await _live_logins(session, user) == []


async def test_update_user_sets_and_clears_admin(session: AsyncSession) -> None:
    user = await _user(session)
    await services.update_user(session, user, data=UserUpdate(is_admin=True))
    assert user.is_admin is True
    await services.update_user(session, user, data=UserUpdate(is_admin=False))
    assert user.is_admin is False


# -- delete ------------------------------------------------------------------------------


async def test_delete_user_removes_them(session: AsyncSession) -> None:
    user = await _user(session)
    user_id = user.id
    await services.delete_user(session, user)
    session.expunge_all()
    assert await find_row(session, User, user_id) is None


async def test_delete_user_cascades_to_products(session: AsyncSession) -> None:
    owner = await _user(session)
    other = await _user(session, "other@example.com")
    mine = await _product(session, owner)
    theirs = await _product(session, other)
    mine_id = mine.id
    await services.delete_user(session, owner)
    session.expunge_all()  # read from the database, not the identity map
    assert await find_row(session, Product, mine_id) is None
    assert await find_row(session, Product, theirs.id) is not None


# -- list --------------------------------------------------------------------------------


async def _users(session: AsyncSession, count: int) -> list[int]:
    return [(await _user(session, f"user{n}@example.com")).id for n in range(count)]


async def test_list_users_pages_by_id_with_the_total(session: AsyncSession) -> None:
    ids = await _users(session, 5)
    page, total = await services.list_users(session, offset=1, limit=2)
    assert ([user.id for user in page], total) == (sorted(ids)[1:3], 5)
    rest, total = await services.list_users(session, offset=3, limit=10**12)
    assert ([user.id for user in rest], total) == (sorted(ids)[3:], 5)


async def test_a_page_of_users_and_the_total_are_one_statement(session: AsyncSession) -> None:
    await _users(session, 3)
    bind = session.sync_session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        page, total = await services.list_users(session, offset=1, limit=1)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert (len(page), total, len(statements)) == (1, 3, 1)


async def test_user_reads_fetch_only_what_clients_see(session: AsyncSession) -> None:
    # The hash (and the token version) were decoded on every page and every item read,
    # only to be dropped by the response model.
    user_id = (await _users(session, 1))[0]
    row = await services.user_row(session, user_id)
    page, _ = await services.list_users(session, offset=0, limit=1)
    public = set(UserRead.model_fields)
    assert set(row._fields) == public
    assert set(page[0]._fields) == public | {"total"}


async def test_list_users_past_the_end_is_empty_with_the_total(session: AsyncSession) -> None:
    await _users(session, 2)
    assert await services.list_users(session, offset=2, limit=10) == ([], 2)
    assert await services.list_users(session, offset=10**18, limit=10) == ([], 2)


async def test_list_users_empty_is_zero(session: AsyncSession) -> None:
    assert await services.list_users(session, offset=0, limit=10) == ([], 0)


async def test_list_users_after_continues_from_the_id(session: AsyncSession) -> None:
    ids = sorted(await _users(session, 5))
    first = await services.list_users_after(session, after_id=None, limit=2)
    assert [user.id for user in first] == ids[:2]
    second = await services.list_users_after(session, after_id=ids[1], limit=2)
    assert [user.id for user in second] == ids[2:4]
    last = await services.list_users_after(session, after_id=ids[-1], limit=2)
    assert list(last) == []


# -- stats -------------------------------------------------------------------------------


async def test_user_stats_counts_and_sums_only_the_users_products(
    session: AsyncSession,
) -> None:
    owner = await _user(session)
    other = await _user(session, "other@example.com")
    for price in (1_000_000_000, 1_000_000_000, 1_000_000_000, 5):
        await _product(session, owner, price_cents=price)
    await _product(session, other, price_cents=77)
    stats = await services.user_stats(session, owner.id)
    assert stats.model_dump() == {
        "user_id": owner.id,
        "product_count": 4,
        "total_value_cents": 3_000_000_005,
    }


async def test_user_stats_without_products_is_zero(session: AsyncSession) -> None:
    owner = await _user(session)
    stats = await services.user_stats(session, owner.id)
    assert (stats.product_count, stats.total_value_cents) == (0, 0)


async def test_user_stats_of_missing_user_raises_not_found(session: AsyncSession) -> None:
    with pytest.raises(UserNotFound):
        await services.user_stats(session, 999_999)
