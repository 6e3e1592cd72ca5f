from service.errors import DuplicateEntry, Forbidden, InvalidInput, ResourceNotFound


class UserNotFound(ResourceNotFound, message="User {} not found"): ...


class EmailTaken(DuplicateEntry, message="A user with this email already exists"): ...


class NotYourAccount(Forbidden, message="You may only act on your own account"): ...


class AdminRequired(Forbidden, message="Only an administrator may do this"): ...


class CurrentPasswordInvalid(InvalidInput, message="The current password is required to change it"):
    """A self-service password change without the right current password (ASVS 2.1.6)."""

    def __init__(self, reason: str) -> None:
        super().__init__(details={"fields": {"current_password": [reason]}})
