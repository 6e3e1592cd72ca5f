"""Rate limiting: quart-rate-limiter's markers, this service's store, key and headers.

- the library's markers `rate_limit`, `limit_blueprint`, `rate_exempt`, re-exported;
- `limiter`: `from_setting`, for limits whose value is a setting; the `Limiter` extension
  that enforces them all (and why not the library's own);
- `stores`: atomic, expiring GCRA stores (in memory) and a hit's RateLimit-* headers;
- `redis_store`: the Redis store (one Lua step, or a lease taken ahead for busy clients);
"""

from quart_rate_limiter import limit_blueprint, rate_exempt, rate_limit

from service.rate_limit.limiter import Limiter, from_setting

__all__ = ["Limiter", "from_setting", "limit_blueprint", "rate_exempt", "rate_limit"]
