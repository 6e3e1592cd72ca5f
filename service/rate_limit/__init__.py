"""Rate limiting: quart-rate-limiter's markers, this service's store, key and headers.

- `markers`: `rate_limit`, `limit_blueprint`, `rate_exempt` (the library's) and
  `from_setting` for limits whose value is a setting;
- `limiter`: the `Limiter` extension that enforces them (and why not the library's own);
- `stores`: atomic, expiring GCRA stores (memory, Redis + Lua);
- `client`: the client's address behind trusted proxies;
- `headers`: RateLimit-* for the limit closest to running out.
"""

from service.rate_limit.client import client_address
from service.rate_limit.limiter import Limiter
from service.rate_limit.markers import (
    from_setting,
    limit_blueprint,
    limits_from_setting,
    rate_exempt,
    rate_limit,
)

__all__ = [
    "Limiter",
    "client_address",
    "from_setting",
    "limit_blueprint",
    "limits_from_setting",
    "rate_exempt",
    "rate_limit",
]
