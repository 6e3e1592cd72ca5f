"""The metrics extension: the app's Prometheus registry, reached through `current_metrics()`."""

from __future__ import annotations

from functools import partial

from prometheus_client import CollectorRegistry, Counter, Histogram
from quart import Quart, current_app

REQUEST_LABELS = ("route", "method", "status")


class Metrics:
    """Counters and a latency histogram, in a registry made per app (test apps never meet)."""

    def init_app(self, app: Quart) -> None:
        self.registry = CollectorRegistry()
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


def current_metrics() -> Metrics:
    """The serving app's metrics."""
    metrics: Metrics = current_app.extensions["metrics"]
    return metrics
