from service.errors import DuplicateEntry, Forbidden, NotFound


class ProductNotFound(NotFound):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"Product {product_id} not found")


class SkuTaken(DuplicateEntry):
    message = "A product with this sku already exists"


class NotYourProduct(Forbidden):
    message = "Only the product's owner or an administrator may do this"
