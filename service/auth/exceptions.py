from service.errors import Unauthorized


class RefreshTokenReused(Unauthorized):
    message = "This refresh token was already used; every token of its login is revoked"
