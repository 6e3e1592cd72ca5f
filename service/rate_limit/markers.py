"""Limits named by a setting, beside quart-rate-limiter's own markers.

Views use the library's `@rate_limit`, `limit_blueprint` and `@rate_exempt` (the seed's
`limiter.limit(...)` and `@limiter.exempt`). A limit whose value comes from settings
(`RATE_LIMIT_LOGIN`, `RATE_LIMIT_USERS`) cannot be a fixed `RateLimit` at import time,
since every `create_app` may read other settings; `from_setting` marks it by name and the
limiter resolves it per app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from quart_rate_limiter import RateLimit

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")


@dataclass
class SettingLimit(RateLimit):
    """A placeholder for the limits in the setting `setting`, resolved per app."""

    setting: str = ""


def from_setting(setting: str) -> list[RateLimit]:
    """`limits=` for `rate_limit`/`limit_blueprint`: whatever `setting` holds in this app."""
    return [SettingLimit(0, timedelta(0), setting=setting)]


def parse_limits(value: str) -> list[RateLimit]:
    """`"100/hour;10/minute"` as the library's limits."""
    limits = []
    for part in filter(str.strip, value.split(";")):
        match = _LIMIT_RE.match(part)
        if match is None or int(match.group(1)) < 1:
            raise ValueError(f"{part.strip()!r} is not <count>/<second|minute|hour|day>")
        limits.append(RateLimit(int(match.group(1)), timedelta(seconds=_PERIODS[match.group(2)])))
    if not limits:
        raise ValueError("at least one limit is required")
    return limits
