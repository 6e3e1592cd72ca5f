from service.errors import APIError


class RequestInProgress(APIError, status=409, error="REQUEST_IN_PROGRESS"):
    message = "A request with this Idempotency-Key is still running; retry shortly"


class IdempotencyKeyReused(APIError, status=422, error="IDEMPOTENCY_KEY_REUSED"):
    message = "This Idempotency-Key was used with a different request"
