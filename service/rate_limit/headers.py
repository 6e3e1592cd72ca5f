"""RateLimit-* header maths for the limit closest to running out."""

from __future__ import annotations

import math
from collections.abc import Sequence

from quart_rate_limiter import RateLimit

from service.rate_limit.stores import HitResult


def headers_for(limits: Sequence[RateLimit], result: HitResult) -> dict[str, str]:
    """RateLimit-* for the limit closest to running out (on a refusal, the one hit).

    The library's own headers describe the limit with the shortest period, which is not
    always the one about to refuse (2/minute beside 100/hour is, 100/minute beside
    3/hour is not).
    """
    if result.rejected_index is not None:
        limit = limits[result.rejected_index]
        return {
            "RateLimit-Limit": str(limit.count),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(max(1, math.ceil(result.separations[result.rejected_index]))),
        }
    best: tuple[int, float, RateLimit] | None = None
    for limit, separation in zip(limits, result.separations, strict=True):
        period = limit.period.total_seconds()
        remaining = max(0, int((period - separation) / limit.inverse + 1e-9))
        if best is None or (remaining, -separation) < (best[0], -best[1]):
            best = (remaining, separation, limit)
    assert best is not None
    remaining, separation, limit = best
    return {
        "RateLimit-Limit": str(limit.count),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(math.ceil(separation)),
    }
