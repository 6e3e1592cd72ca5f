"""Rate limiting: quart-rate-limiter's markers, this service's store, key and headers.

- the library's markers `rate_limit`, `limit_blueprint`, `rate_exempt`, re-exported;
- `limiter`: `from_setting`, for limits whose value is a setting; the `Limiter` extension
  that enforces them all (and why not the library's own); `client_address`, the client's
  address behind trusted proxies;
- `stores`: atomic, expiring GCRA stores (memory, Redis + Lua) and a hit's RateLimit-* headers;
"""

from quart_rate_limiter import limit_blueprint, rate_exempt, rate_limit

from service.rate_limit.limiter import Limiter, client_address, from_setting

__all__ = [
    "Limiter",
    "client_address",
    "from_setting",
    "limit_blueprint",
    "rate_exempt",
    "rate_limit",
]
