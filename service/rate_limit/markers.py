"""Limits named by a setting, beside quart-rate-limiter's own markers.

Views use the library's `@rate_limit`, `limit_blueprint` and `@rate_exempt` (the seed's
`limiter.limit(...)` and `@limiter.exempt`). A limit whose value comes from settings
(`RATE_LIMIT_LOGIN`, `RATE_LIMIT_USERS`) cannot be a fixed `RateLimit` at import time,
since every `create_app` may read other settings; `from_setting` marks it by name and the
limiter resolves it per app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from quart_rate_limiter import RateLimit

from service.config import parse_limits


@dataclass
class SettingLimit(RateLimit):
    """A placeholder for the limits in the setting `setting`, resolved per app."""

    setting: str = ""

    @property
    def label(self) -> str:
        """The name the limit goes by in keys and tests: `RATE_LIMIT_LOGIN` -> `login`."""
        return self.setting.removeprefix("RATE_LIMIT_").lower()


def from_setting(setting: str) -> list[RateLimit]:
    """`limits=` for `rate_limit`/`limit_blueprint`: whatever `setting` holds in this app."""
    return [SettingLimit(0, timedelta(0), setting=setting)]


def limits_from_setting(value: str) -> list[RateLimit]:
    """`"5/minute;100/hour"` as the library's limits."""
    return [RateLimit(count, period) for count, period in parse_limits(value)]
