"""Versioned API: resource blueprints nested under `/api/v1` and `/api/v2`."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint

from service.auth.views import blueprint as auth
from service.products.views import blueprint_v1 as products_v1
from service.products.views import blueprint_v2 as products_v2
from service.users.views import blueprint_v1 as users_v1
from service.users.views import blueprint_v2 as users_v2

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")
api_v2 = Blueprint("api_v2", __name__, url_prefix="/api/v2")

for parent, resource, name in (
    (api_v1, auth, "auth"),
    (api_v1, users_v1, "users"),
    (api_v2, users_v2, "users"),
    (api_v1, products_v1, "products"),
    (api_v2, products_v2, "products"),
):
    tag_blueprint(resource, [name])  # groups the operations in /docs
    parent.register_blueprint(resource, url_prefix=f"/{name}")
