from service.errors import NotFound, Unauthorized


class RefreshTokenReused(
    Unauthorized, message="This refresh token was already used; every token of its login is revoked"
): ...


class SessionNotFound(NotFound, message="No such login of yours"): ...


class InvalidCredentials(
    Unauthorized, error="INVALID_CREDENTIALS", message="Invalid email or password"
): ...
