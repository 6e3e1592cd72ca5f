from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.database import Base, UTCDateTime, utcnow


class Product(Base):
    __tablename__ = "products"
    # Keyset pagination walks (sort key, id); one index per sortable key.
    __table_args__ = (
        Index("ix_products_name_id", "name", "id"),
        Index("ix_products_price_cents_id", "price_cents", "id"),
        Index("ix_products_created_at_id", "created_at", "id"),
        # Ids are never reused, on SQLite too.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
