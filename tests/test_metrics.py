"""/metrics beyond requests: the process, the garbage collector and the connection pool."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from service.app import create_app
from service.config import Settings
from tests.plugins.backends import Backend


async def scrape(client: Any) -> dict[str, float]:
    """Every unlabelled sample, and labelled ones keyed `name{a=b,...}`."""
    text = await (await client.get("/metrics")).get_data(as_text=True)
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_metrics_expose_the_process_and_the_garbage_collector(client: Any) -> None:
    samples = await scrape(client)
    assert samples["process_resident_memory_bytes"] > 0
    assert samples["process_open_fds"] > 0
    assert "process_cpu_seconds_total" in samples
    assert any(name.startswith("python_info{") for name in samples)
    assert "python_gc_collections_total{generation=0}" in samples
    assert "python_gc_objects_collected_total{generation=2}" in samples


async def test_metrics_show_the_pool_as_it_is_at_scrape_time(
    app: Any, client: Any, settings: Settings
) -> None:
    engine = app.app.extensions["database"].engine  # `app` is the serving TestApp
    # Both backends pool: PostgreSQL by the settings, an SQLite file by SQLAlchemy's default.
    sqlite = settings.database_url.startswith("sqlite")
    expected_size = engine.pool.size() if sqlite else settings.DATABASE_POOL_SIZE
    async with engine.connect() as connection, engine.connect() as second:
        assert connection is not second
        busy = await scrape(client)
    idle = await scrape(client)
    assert busy["db_pool_size"] == idle["db_pool_size"] == expected_size
    assert busy["db_pool_checked_out"] == 2
    assert idle["db_pool_checked_out"] == 0
    assert idle["db_pool_checked_in"] == 2  # both went back to the pool
    assert busy["db_pool_overflow"] == idle["db_pool_overflow"] == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite's pool is fixed
async def test_metrics_count_connections_beyond_the_pool_as_overflow(
    clean_backend: Backend,
) -> None:
    settings = clean_backend.settings(DATABASE_POOL_SIZE=1, DATABASE_MAX_OVERFLOW=2)
    app = create_app(settings)
    async with app.test_app() as serving:
        engine = app.extensions["database"].engine
        client = serving.test_client()
        async with engine.connect(), engine.connect(), engine.connect():
            busy = await scrape(client)
        idle = await scrape(client)
    assert busy["db_pool_size"] == 1
    assert (busy["db_pool_checked_out"], busy["db_pool_overflow"]) == (3, 2)
    # Overflow connections are closed on return; the pool keeps its size.
    assert (idle["db_pool_checked_out"], idle["db_pool_overflow"]) == (0, 0)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_default_pool_keeps_the_connections_a_burst_opened(clean_backend: Backend) -> None:
    # With room beyond the pool's size, every burst past the size opened connections that
    # check-in closed again: under steady load, a reconnect (TLS attempt, start-up) per
    # request or so. The default pool keeps all it opens.
    app = create_app(clean_backend.settings())
    opened: list[object] = []
    async with app.test_app():
        engine = app.extensions["database"].engine
        event.listen(engine.sync_engine, "connect", lambda *_: opened.append(object()))
        settings = app.extensions["settings"]
        burst = settings.DATABASE_POOL_SIZE + settings.DATABASE_MAX_OVERFLOW  # all it opens
        for _ in range(2):
            async with AsyncExitStack() as stack:
                for _ in range(burst):
                    await stack.enter_async_context(engine.connect())
        assert len(opened) == burst  # the second burst reused the first one's connections
        assert engine.pool.checkedin() == burst
