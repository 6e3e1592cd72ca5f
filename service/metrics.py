"""The metrics extension: the app's Prometheus registry, reached through `current_metrics()`."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from quart import Quart, current_app
from sqlalchemy.pool import QueuePool

REQUEST_LABELS = ("route", "method", "status")


class Metrics:
    """Counters and a latency histogram, in a registry made per app (test apps never meet).

    The registry is the app's own, so the client's default process, platform and GC
    collectors are registered on it too.
    """

    def init_app(self, app: Quart) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.registry.register(PoolCollector(app))
        counter = partial(Counter, registry=self.registry)
        self.requests = counter(
            "http_requests_total", "HTTP requests by route, method and status.", REQUEST_LABELS
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time spent answering HTTP requests.",
            REQUEST_LABELS,
            registry=self.registry,
        )
        # Label children per (route, method, status): a dict look-up per request instead of
        # two `labels()` calls (each a lock and a tuple check). Bounded like the labels.
        self._request_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self.cache_requests = counter(
            "cache_requests_total", "Cache look-ups by result (hit or miss).", ["result"]
        )
        self.rate_limited = counter(
            "rate_limit_rejections_total", "Requests refused by a rate limit.", ["route"]
        )
        self.redis_errors = counter(
            "redis_errors_total",
            "Redis operations that failed and were worked around.",
            ["component"],
        )
        app.extensions["metrics"] = self

    def observe_request(self, route: str, method: str, status: str, duration: float) -> None:
        """Count one answered request and its duration."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(*key),
                self.latency.labels(*key),
            )
        children[0].inc()
        children[1].observe(duration)


class PoolCollector(Collector):
    """The database connection pool's figures, read from the engine at scrape time."""

    def __init__(self, app: Quart) -> None:
        self.app = app

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        database = self.app.extensions.get("database")
        engine = getattr(database, "engine", None)
        pool = engine.pool if engine is not None else None
        # SQLite in memory and NullPool have no pool to speak of: the families stay empty.
        if isinstance(pool, QueuePool):
            figures = (pool.size(), pool.checkedout(), pool.checkedin(), max(pool.overflow(), 0))
            for family, value in zip(families, figures, strict=True):
                family.add_metric([], value)
        return iter(families)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily("db_pool_size", "Connections the pool keeps (its size)."),
            GaugeMetricFamily("db_pool_checked_out", "Pool connections in use now."),
            GaugeMetricFamily("db_pool_checked_in", "Idle connections waiting in the pool."),
            GaugeMetricFamily("db_pool_overflow", "Connections open beyond the pool's size."),
        ]


def current_metrics() -> Metrics:
    """The serving app's metrics."""
    metrics: Metrics = current_app.extensions["metrics"]
    return metrics
