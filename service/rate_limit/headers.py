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
    separations = result.separations
    if result.rejected_index is not None:
        index, remaining = result.rejected_index, 0
        reset = max(1, math.ceil(separations[index]))
    else:
        remaining_each = [
            max(0, int((limit.period.total_seconds() - separation) / limit.inverse + 1e-9))
            for limit, separation in zip(limits, separations, strict=True)
        ]
        index = min(range(len(limits)), key=lambda i: (remaining_each[i], -separations[i]))
        remaining, reset = remaining_each[index], math.ceil(separations[index])
    return {
        "RateLimit-Limit": str(limits[index].count),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }
