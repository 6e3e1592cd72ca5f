from service.errors import DuplicateEntry, Forbidden, NotFound


class UserNotFound(NotFound):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"User {user_id} not found")


class EmailTaken(DuplicateEntry):
    message = "A user with this email already exists"


class NotYourAccount(Forbidden):
    message = "You may only act on your own account"


class AdminRequired(Forbidden):
    message = "Only an administrator may do this"
