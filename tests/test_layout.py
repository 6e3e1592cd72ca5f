"""The package's shape: one way to bind an extension, small modules."""

from __future__ import annotations

import inspect
from pathlib import Path

import service
from service import extensions
from service.app import create_app
from service.config import Settings
from service.idempotency import requests as idempotency

PACKAGE = Path(service.__file__).parent
MAX_MODULE_LINES = 200


def test_every_extension_is_bound_by_init_app_with_the_app_alone() -> None:
    bound = [
        value
        for value in (*vars(extensions).values(), idempotency)
        if hasattr(value, "init_app") and not inspect.isclass(value)
    ]
    assert len(bound) >= 10
    for extension in bound:
        parameters = list(inspect.signature(extension.init_app).parameters)
        assert parameters == ["app"], f"{extension!r}.init_app takes {parameters}"


def test_extensions_find_what_they_share_on_the_app(settings: Settings) -> None:
    app = create_app(settings)
    assert app.extensions["settings"] is settings
    assert app.extensions["metrics"] is extensions.metrics
    assert app.extensions["redis_client"] is extensions.redis_client
    assert app.extensions["database"] is extensions.db


def test_no_module_is_over_200_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
