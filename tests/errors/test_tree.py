"""The error tree's class keywords, as domain exception modules use them."""

from __future__ import annotations

from service.errors import FOR_STATUS, APIError, NotFound, ServiceUnavailable, Unauthorized


class Gone(APIError, status=410, message="It was here once"):
    """A status without its own code: the code is the status's name."""


class Busy(ServiceUnavailable, message="Busy right now"):
    """A subclass changing only its message keeps status, code and headers."""


class Custom(Unauthorized):
    """Attributes set in a class body still work, beside the keywords."""

    error = "CUSTOM"
    message = "Custom message"


def test_keywords_set_status_code_message_and_headers() -> None:
    assert (Gone.status_code, Gone.error, Gone.message) == (410, "GONE", "It was here once")
    assert (Busy.status_code, Busy.error, Busy().headers) == (
        503,
        "SERVICE_UNAVAILABLE",
        {"Retry-After": "5"},
    )
    assert (Custom.status_code, Custom.error, Custom().message) == (401, "CUSTOM", "Custom message")
    assert Custom().headers == {"WWW-Authenticate": "Bearer"}


def test_headers_passed_replace_the_defaults_and_are_not_shared() -> None:
    assert Unauthorized(headers={}).headers == {}
    first = ServiceUnavailable()
    first.headers["X-Extra"] = "1"
    assert ServiceUnavailable().headers == {"Retry-After": "5"}


def test_each_status_maps_to_the_first_class_naming_it() -> None:
    assert FOR_STATUS[404] is NotFound
    assert FOR_STATUS[400].error == "BAD_REQUEST"
    assert 500 not in FOR_STATUS
    assert 410 not in FOR_STATUS  # classes declared elsewhere do not change the mapping
