"""One settings class, read from the environment or a `.env` file."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The public placeholder earlier versions defaulted to: never used to sign anything.
DEV_SECRET = "dev-secret-change-me"
DEV_DATABASE_URL = "sqlite+aiosqlite:///var/service.db"
MIN_SECRET_LENGTH = 32
SECRET_NAMES = ("SECRET_KEY", "JWT_SECRET_KEY")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Plain URLs, as container platforms pass them, get the async drivers.
ASYNC_DRIVERS = {
    "postgres://": "postgresql+asyncpg://",
    "postgresql://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


class ConfigError(ValueError):
    """A setting is missing or unsafe; the message names the setting."""


class Settings(BaseSettings):
    """Every setting of the service; names match the contract's variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    APP_NAME: str = "Quart Service"
    APP_ENV: Literal["development", "testing", "production"] = "development"
    # Unset: development generates a secret once into var/, testing a per-process one.
    SECRET_KEY: str = ""
    JWT_SECRET_KEY: str = ""
    DATABASE_URL: str | None = None
    DATABASE_POOL_SIZE: int = Field(default=10, ge=1)
    DATABASE_MAX_OVERFLOW: int = Field(default=10, ge=0)
    DATABASE_POOL_TIMEOUT: float = Field(default=10.0, gt=0)
    # How long a request waits on a silent database before its 503 (the contract's name).
    DATABASE_TIMEOUT: float = Field(default=5.0, gt=0)
    DATABASE_ECHO: bool = False
    REDIS_URL: str | None = None
    REDIS_KEY_PREFIX: str = "svc:"
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=0, le=65535)  # 0: a free port, reported at start
    JWT_ACCESS_TOKEN_EXPIRES: int = Field(default=3600, ge=1)
    JWT_REFRESH_TOKEN_EXPIRES: int = Field(default=30 * 24 * 3600, ge=1)
    CORS_ORIGINS: str = ""
    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_DEFAULT: str = "100/hour"
    RATE_LIMIT_LOGIN: str = "5/minute"
    RATE_LIMIT_USERS: str = "50/hour"
    TRUSTED_PROXIES: str = ""
    MAX_CONTENT_LENGTH: int = Field(default=1024 * 1024, ge=1)
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    LOG_FORMAT: Literal["json", "console"] | None = None
    # argon2id cost; stored hashes with other parameters are upgraded at the next login
    PASSWORD_HASH_TIME_COST: int = Field(default=3, ge=1)
    PASSWORD_HASH_MEMORY_KIB: int = Field(default=65536, ge=8)
    PASSWORD_HASH_PARALLELISM: int = Field(default=4, ge=1)
    CACHE_TTL: int = Field(default=60, ge=1)
    SHUTDOWN_GRACE_SECONDS: float = Field(default=20.0, ge=0)
    # Where clients reach the service (behind a proxy); absolute Link/Location use it.
    # Unset, they are relative: the request's Host header is never trusted for them.
    PUBLIC_URL: str | None = None
    # How long a request holds its Idempotency-Key before a retry may take it over (a
    # request that died, e.g. with its instance, must not block the key for 24 hours).
    IDEMPOTENCY_LEASE_SECONDS: float = Field(default=60.0, gt=0)

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("RATE_LIMIT_DEFAULT", "RATE_LIMIT_LOGIN", "RATE_LIMIT_USERS")
    @classmethod
    def _valid_limits(cls, value: str) -> str:
        from service.rate_limit.limiter import parse_limits  # that package imports this one

        parse_limits(value)
        return value

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        for item in _split(value):
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("PUBLIC_URL")
    @classmethod
    def _plain_http_base(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        # A query or fragment, even an empty one, shows as its separator.
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.username is not None
            or "?" in value
            or "#" in value
        ):
            raise ValueError(
                "must be an http(s) URL without credentials, query or fragment, "
                "e.g. https://api.example.com"
            )
        return value.rstrip("/")

    @field_validator("DATABASE_URL")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        for plain, driver in ASYNC_DRIVERS.items():
            if value and value.startswith(plain):
                return driver + value.removeprefix(plain)
        return value or None

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.APP_ENV != "production":
            return self
        # Name every unsafe setting at once, so one failed start is enough to fix them all.
        problems = []
        if not self.DATABASE_URL:
            problems.append("DATABASE_URL must be set in production")
        for name in SECRET_NAMES:
            secret: str = getattr(self, name)
            if len(secret) < MIN_SECRET_LENGTH:  # unset and DEV_SECRET among them
                problems.append(
                    f"{name} must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters in production"
                )
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or DEV_DATABASE_URL

    @property
    def log_format(self) -> Literal["json", "console"]:
        if self.LOG_FORMAT is not None:
            return self.LOG_FORMAT
        return "json" if self.APP_ENV == "production" else "console"

    @property
    def cors_origins(self) -> list[str]:
        return _split(self.CORS_ORIGINS)

    @property
    def trusted_proxies(self) -> list[IPNetwork]:
        return [ipaddress.ip_network(item, strict=False) for item in _split(self.TRUSTED_PROXIES)]

    def quart_config(self) -> dict[str, Any]:
        """The keys Quart and its extensions read from `app.config`."""
        return {
            "APP_NAME": self.APP_NAME,
            "APP_ENV": self.APP_ENV,
            "DEBUG": self.APP_ENV == "development",
            "TESTING": self.APP_ENV == "testing",
            "SECRET_KEY": self.SECRET_KEY,
            "MAX_CONTENT_LENGTH": self.MAX_CONTENT_LENGTH,
            "JWT_SECRET_KEY": self.JWT_SECRET_KEY,
            "JWT_ALGORITHM": "HS256",
            "JWT_IDENTITY_CLAIM": "sub",
            "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=self.JWT_ACCESS_TOKEN_EXPIRES),
            "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=self.JWT_REFRESH_TOKEN_EXPIRES),
            "JWT_TOKEN_LOCATION": ("headers",),
            # Tokens carry whole-second nbf/iat/exp: a few seconds' leeway absorbs clock
            # skew between the instances that issue and the ones that check them.
            "JWT_DECODE_LEEWAY": 5,
            "QUART_RATE_LIMITER_ENABLED": self.RATE_LIMIT_ENABLED,
            "QUART_SCHEMA_CONVERSION_PREFERENCE": "pydantic",
            # Swagger UI's assets come from the ops blueprint, not a CDN (/docs works offline).
            "QUART_SCHEMA_SWAGGER_JS_URL": "/docs/static/swagger-ui-bundle.js",
            "QUART_SCHEMA_SWAGGER_CSS_URL": "/docs/static/swagger-ui.css",
        }


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
