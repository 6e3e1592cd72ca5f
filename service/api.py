"""Versioned API: resource blueprints nested under `/api/v1` and `/api/v2`."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")
api_v2 = Blueprint("api_v2", __name__, url_prefix="/api/v2")


def _register_resources() -> None:
    from service.auth.views import blueprint as auth
    from service.products.views import blueprint_v1 as products_v1
    from service.products.views import blueprint_v2 as products_v2
    from service.users.views import blueprint_v1 as users_v1
    from service.users.views import blueprint_v2 as users_v2

    for tag, blueprints in (
        ("auth", [auth]),
        ("users", [users_v1, users_v2]),
        ("products", [products_v1, products_v2]),
    ):
        for blueprint in blueprints:
            tag_blueprint(blueprint, [tag])  # groups the operations in /docs

    api_v1.register_blueprint(auth, url_prefix="/auth")
    api_v1.register_blueprint(users_v1, url_prefix="/users")
    api_v2.register_blueprint(users_v2, url_prefix="/users")
    api_v1.register_blueprint(products_v1, url_prefix="/products")
    api_v2.register_blueprint(products_v2, url_prefix="/products")


_register_resources()
