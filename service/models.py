"""Every domain's models in one import, for Alembic and the tests."""

from service.auth.models import AuthSession
from service.database import Base
from service.idempotency.models import IdempotencyKey
from service.products.models import Product
from service.users.models import User

__all__ = ["AuthSession", "Base", "IdempotencyKey", "Product", "User"]
