"""Product request, query and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from typing_extensions import TypeAliasType

from service.common.pagination import CursorQuery, PageQuery
from service.common.schemas import NonNegativeQueryInt, PartialBody, StrictBody, Timestamp

MAX_PRICE_CENTS = 1_000_000_000

ProductName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9-]{3,64}$")]
PriceCents = Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS)]
Description = Annotated[str, StringConstraints(max_length=2000)]

SortKey = Literal["id", "name", "price_cents", "created_at"]
# What a v2 cursor's sort value must be, per key.
SORT_TYPES: dict[SortKey, Any] = {
    "id": StrictInt,
    "name": StrictStr,
    "price_cents": StrictInt,
    "created_at": AwareDatetime,
}
# Named, so v1 and v2 lists share one `ProductSort` schema (and one client enum).
ProductSort = TypeAliasType(
    "ProductSort",
    Literal[
        "id", "-id", "name", "-name", "price_cents", "-price_cents", "created_at", "-created_at"
    ],
)

# No upper bound: a filter past the highest possible price is valid, it just matches less.
QueryPrice = NonNegativeQueryInt


class ProductCreate(StrictBody):
    """A new product; the caller becomes its owner."""

    name: ProductName
    sku: Sku
    price_cents: PriceCents
    description: Description | None = None


class ProductReplace(ProductCreate):
    """PUT: the whole product; a left-out description is cleared."""


class ProductUpdate(PartialBody):
    """PATCH: any of the fields; only `description` may be null (to clear it)."""

    nullable = frozenset({"description"})

    name: ProductName | None = None
    sku: Sku | None = None
    price_cents: PriceCents | None = None
    description: Description | None = None


class ProductFilters(BaseModel):
    """List filters and order, shared by v1 pages and v2 cursors."""

    q: str | None = None
    min_price: QueryPrice | None = None
    max_price: QueryPrice | None = None
    sort: ProductSort = "id"

    @field_validator("max_price")
    @classmethod
    def _not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_price")
        if value is not None and low is not None and value < low:
            raise ValueError("must not be less than min_price")
        return value

    @property
    def sort_key(self) -> SortKey:
        key: SortKey = self.sort.removeprefix("-")  # type: ignore[assignment]
        return key

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def identity(self) -> dict[str, Any]:
        """What a cursor must be used with: the same sort and filters."""
        return {**self.model_dump(include={"sort", "min_price", "max_price"}), "q": self.q or None}


class ProductPageQuery(PageQuery, ProductFilters):
    """v1 list query: filters, sort and `page`/`per_page`."""


class ProductCursorQuery(CursorQuery, ProductFilters):
    """v2 list query: filters, sort, `limit` and the previous page's `cursor`."""


class ProductRead(BaseModel):
    """A product as clients see it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    sku: str
    price_cents: int
    description: str | None
    owner_id: int
    created_at: Timestamp
    updated_at: Timestamp
