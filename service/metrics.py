"""The metrics extension: the app's Prometheus registry, reached through `current_metrics()`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from quart import Quart, current_app

REQUEST_LABELS = ("route", "method", "status")


class Metrics:
    """Counters and a latency histogram, in a registry made per app (test apps never meet)."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    cache_requests: Counter
    rate_limited: Counter
    redis_errors: Counter

    def init_app(self, app: Quart) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests, self.cache_requests, self.rate_limited, self.redis_errors = (
            Counter(name, documentation, labels, registry=registry)
            for name, documentation, labels in (
                (
                    "http_requests_total",
                    "HTTP requests by route, method and status.",
                    REQUEST_LABELS,
                ),
                ("cache_requests_total", "Cache look-ups by result (hit or miss).", ["result"]),
                ("rate_limit_rejections_total", "Requests refused by a rate limit.", ["route"]),
                (
                    "redis_errors_total",
                    "Redis operations that failed and were worked around.",
                    ["component"],
                ),
            )
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time spent answering HTTP requests.",
            REQUEST_LABELS,
            registry=registry,
        )
        app.extensions["metrics"] = self


def current_metrics() -> Metrics:
    """The serving app's metrics."""
    metrics: Metrics = current_app.extensions["metrics"]
    return metrics
