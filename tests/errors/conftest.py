from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.config import Settings
from tests.errors.probe import probe_app


@pytest.fixture(name="client")
async def _client(settings: Settings) -> AsyncIterator[Any]:
    app = await probe_app(settings)
    async with app.test_app() as test_app:
        yield test_app.test_client()
