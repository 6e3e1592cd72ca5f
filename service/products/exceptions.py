from service.errors import DuplicateEntry, Forbidden, ResourceNotFound


class ProductNotFound(ResourceNotFound, message="Product {} not found"): ...


class SkuTaken(DuplicateEntry, message="A product with this sku already exists"): ...


class NotYourProduct(
    Forbidden, message="Only the product's owner or an administrator may do this"
): ...
