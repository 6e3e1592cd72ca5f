"""`/users`: a collection view and an item view; v2 changes only the list."""

from __future__ import annotations

from quart import Blueprint, request
from quart.views import MethodView
from quart_schema import validate_querystring

from service.auth.guards import auth_required, authenticate, current_user
from service.common.conditional import require_if_match, tagged_read
from service.common.early_reads import reads_early
from service.common.openapi import errors
from service.common.pagination import CursorPage, CursorQuery, Keyset, PageQuery, page_headers
from service.common.urls import created_url
from service.common.validation import validate_request, validate_response
from service.common.views import Headers, add_class_view, item_removal, item_write
from service.extensions import cache, db
from service.idempotency.requests import accepts_idempotency_key, idempotent
from service.products import caching as product_caching
from service.products import services as product_services
from service.rate_limit import from_setting, limit_blueprint
from service.users import caching, services
from service.users.exceptions import AdminRequired, NotYourAccount
from service.users.models import User
from service.users.schemas import UserCreate, UserRead, UserStats, UserUpdate


def ensure_self_or_admin(user_id: int) -> None:
    """403 for another user's id, whether or not it exists (no probing for ids)."""
    if not current_user.is_admin and current_user.id != user_id:
        raise NotYourAccount()


def ensure_admin() -> None:
    if not current_user.is_admin:
        raise AdminRequired()


class UserCollection(MethodView):
    """Users: an admin-only list and public sign-up."""

    @auth_required
    @validate_querystring(PageQuery)
    @validate_response(list[UserRead])
    @errors(403)
    async def get(self, query_args: PageQuery) -> tuple[list[UserRead], int, Headers]:
        """List users by id (admin only), with X-Total-Count and Link headers."""
        ensure_admin()
        users, total = await services.list_users(
            db.session(), offset=query_args.offset, limit=query_args.per_page
        )
        body = [UserRead.model_validate(user) for user in users]
        return body, 200, page_headers(query_args, total)

    @validate_request(UserCreate)
    @validate_response(UserRead, 201)
    @errors(403)
    @accepts_idempotency_key
    async def post(self, data: UserCreate) -> tuple[UserRead, int, Headers]:
        """Sign up. `is_admin: true` needs an administrator's token."""
        # Without a token, asking for admin is refused (403), not unauthenticated.
        if data.is_admin and not (
            "Authorization" in request.headers and (await authenticate("access")).is_admin
        ):
            raise AdminRequired()

        async def create() -> tuple[UserRead, int, Headers]:
            user = await services.create_user(db.session(), data=data)
            return UserRead.model_validate(user), 201, {"Location": created_url(user.id)}

        return await idempotent(create)


async def _changeable(user_id: int) -> User:
    """The user, locked, once the caller may change them and the If-Match holds."""
    ensure_self_or_admin(user_id)
    user = await services.get_user(db.session(), user_id, for_update=True)
    require_if_match(UserRead.model_validate(user))
    return user


async def _update(user_id: int, data: UserUpdate) -> UserRead:
    ensure_self_or_admin(user_id)  # before the admin check: a stranger gets NotYourAccount
    if data.is_admin is not None:
        ensure_admin()
    user = await _changeable(user_id)
    by_self = user_id == current_user.id
    user = await services.update_user(db.session(), user, data=data, by_self=by_self)
    cache.delete_memoized(caching.user_json, user_id)
    return UserRead.model_validate(user)


class UserItem(MethodView):
    """One user: self or an admin."""

    @reads_early(lambda id: cache.memoized_keys(caching.user_json, id))
    @auth_required
    @validate_response(UserRead)
    @errors(403)
    @tagged_read
    async def get(self, id: int) -> UserRead:
        """One user (self or admin)."""
        ensure_self_or_admin(id)
        return UserRead.model_validate(await caching.user_json(id))

    @item_write(UserUpdate, UserRead)
    async def put(self, id: int, data: UserUpdate) -> UserRead:
        """Update any of name, email, password (self or admin); `is_admin` only by an admin.

        As PATCH: the contract gives PUT on users the meaning of a partial update.
        """
        return await _update(id, data)

    @item_write(UserUpdate, UserRead)
    async def patch(self, id: int, data: UserUpdate) -> UserRead:
        """Update any of name, email, password (self or admin); `is_admin` only by an admin.

        Changing one's own password needs `current_password`; it ends every login.
        """
        return await _update(id, data)

    @item_removal
    async def delete(self, id: int) -> tuple[str, int]:
        """Delete a user and their products (self or admin)."""
        user = await _changeable(id)
        product_ids = await product_services.product_ids_of(db.session(), owner_id=id)
        await services.delete_user(db.session(), user)
        cache.delete_memoized(caching.user_json, id)
        product_caching.delete(product_ids, owner_id=id)
        return "", 204


class UserCollectionV2(UserCollection):
    """v2: the same, with a signed keyset cursor on the list."""

    @auth_required
    @validate_querystring(CursorQuery)
    @validate_response(CursorPage[UserRead])
    @errors(403)
    async def get(self, query_args: CursorQuery) -> CursorPage[UserRead]:
        """List users by id (admin only), a page at a time by cursor."""
        ensure_admin()
        keyset = Keyset("users-cursor")
        after = keyset.after(query_args.cursor)
        users = await services.list_users_after(
            db.session(), after_id=None if after is None else after[1], limit=query_args.limit + 1
        )
        page, next_cursor = keyset.page(users, query_args.limit, lambda user: (user.id, user.id))
        data = [UserRead.model_validate(user) for user in page]
        return CursorPage[UserRead](data=data, next_cursor=next_cursor)


@auth_required
@validate_response(UserRead)
@tagged_read
async def me() -> UserRead:
    """The caller's own user."""
    return UserRead.model_validate(current_user)


@auth_required
@validate_response(UserStats)
@errors(403)
async def user_stats(id: int) -> UserStats:
    """A user's product count and total value in cents (self or admin)."""
    ensure_self_or_admin(id)
    return UserStats.model_validate(await caching.stats_json(id))


def _blueprint(collection: type[UserCollection]) -> Blueprint:
    blueprint = Blueprint("users", __name__)
    limit_blueprint(blueprint, limits=from_setting("RATE_LIMIT_USERS"))
    blueprint.add_url_rule("/me", view_func=me)  # GET (and HEAD) by default
    blueprint.add_url_rule("/<id:id>/stats", endpoint="users_stats", view_func=user_stats)
    add_class_view(blueprint, "/", collection.as_view("users"))
    add_class_view(blueprint, "/<id:id>", UserItem.as_view("users"))
    return blueprint


blueprint_v1 = _blueprint(UserCollection)
blueprint_v2 = _blueprint(UserCollectionV2)
