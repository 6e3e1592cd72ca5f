"""One settings class, read from the environment or a `.env` file."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The public placeholder earlier versions defaulted to: never used to sign anything.
DEV_SECRET = "dev-secret-change-me"
DEV_DATABASE_URL = "sqlite+aiosqlite:///var/service.db"
MIN_SECRET_LENGTH = 32
JWT_LEEWAY_SECONDS = 5
SECRET_NAMES = ("SECRET_KEY", "JWT_SECRET_KEY")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A proxy given as a host address with a prefix (10.0.0.1/8) means its whole network.
ProxyNetwork = Annotated[
    IPNetwork, BeforeValidator(lambda item: ipaddress.ip_network(item, strict=False))
]

# Plain URLs, as container platforms pass them, get the async drivers.
ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
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
    # A fixed pool by default: connections beyond the size are closed on check-in, so
    # under steady load past the size every few requests would reconnect.
    DATABASE_POOL_SIZE: int = Field(default=20, ge=1)
    DATABASE_MAX_OVERFLOW: int = Field(default=0, ge=0)
    DATABASE_POOL_TIMEOUT: float = Field(default=10.0, gt=0)
    # How long a request waits on a silent database before its 503 (the contract's name).
    DATABASE_TIMEOUT: float = Field(default=5.0, gt=0)
    DATABASE_ECHO: bool = False
    REDIS_URL: str | None = None
    REDIS_KEY_PREFIX: str = "svc:"
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=0, le=65535)  # 0: a free port, reported at start
    # Server processes sharing the port; 0: one per CPU core, or one without REDIS_URL (an
    # in-process cache and limits hold in one process only). Containers run 1.
    WORKERS: int = Field(default=0, ge=0)
    JWT_ACCESS_TOKEN_EXPIRES: int = Field(default=3600, ge=1)
    JWT_REFRESH_TOKEN_EXPIRES: int = Field(default=30 * 24 * 3600, ge=1)
    # How long an instance reuses a login it confirmed (while Redis says nothing changed).
    LOGIN_CACHE_SECONDS: float = Field(default=5.0, ge=0)
    # Comma-separated in the environment.
    CORS_ORIGINS: Annotated[list[str], NoDecode] = []
    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_DEFAULT: str = "100/hour"
    RATE_LIMIT_LOGIN: str = "5/minute"
    RATE_LIMIT_USERS: str = "50/hour"
    TRUSTED_PROXIES: Annotated[list[ProxyNetwork], NoDecode] = []
    MAX_CONTENT_LENGTH: int = Field(default=1024 * 1024, ge=1)
    LOG_LEVEL: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
    ] = "INFO"
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
    # The admin `service init-db` creates if no user has this email: both or neither,
    # checked there (as sign-up does), so a bad value never stops the API from serving.
    FIRST_ADMIN_EMAIL: str | None = None
    FIRST_ADMIN_PASSWORD: SecretStr | None = None

    @field_validator("RATE_LIMIT_DEFAULT", "RATE_LIMIT_LOGIN", "RATE_LIMIT_USERS")
    @classmethod
    def _valid_limits(cls, value: str) -> str:
        from service.rate_limit.limiter import parse_limits  # that package imports this one

        parse_limits(value)
        return value

    @field_validator("CORS_ORIGINS", "TRUSTED_PROXIES", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("FIRST_ADMIN_EMAIL", "FIRST_ADMIN_PASSWORD", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # compose passes `${FIRST_ADMIN_EMAIL:-}` as an empty string when .env has none
        return None if value == "" else value

    @field_validator("PUBLIC_URL")
    @classmethod
    def _plain_http_base(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        # A query or fragment, even an empty one, shows as its separator.
        plain = parts.scheme in {"http", "https"} and parts.hostname and parts.username is None
        if not plain or "?" in value or "#" in value:
            raise ValueError(
                "must be an http(s) URL without credentials, query or fragment, "
                "e.g. https://api.example.com"
            )
        return value.rstrip("/")

    @field_validator("DATABASE_URL")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        scheme, separator, rest = (value or "").partition("://")
        return ASYNC_DRIVERS.get(scheme, scheme) + separator + rest or None

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.APP_ENV != "production":
            return self
        # Name every unsafe setting at once, so one failed start is enough to fix them all.
        problems = [] if self.DATABASE_URL else ["DATABASE_URL must be set in production"]
        problems += [  # unset secrets and DEV_SECRET among them
            f"{name} must be set to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters in production"
            for name in SECRET_NAMES
            if len(getattr(self, name)) < MIN_SECRET_LENGTH
        ]
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or DEV_DATABASE_URL

    @property
    def workers(self) -> int:
        cores = (os.cpu_count() or 1) if self.REDIS_URL else 1
        return self.WORKERS or cores

    @property
    def log_format(self) -> Literal["json", "console"]:
        return self.LOG_FORMAT or ("json" if self.APP_ENV == "production" else "console")

    def quart_config(self) -> dict[str, Any]:
        """Every setting (all UPPER_CASE, as Quart's config keeps) and what extensions read."""
        return self.model_dump() | {
            "DEBUG": self.APP_ENV == "development",
            "TESTING": self.APP_ENV == "testing",
            "JWT_IDENTITY_CLAIM": "sub",
            # Tokens carry whole-second nbf/iat/exp: a few seconds' leeway absorbs clock
            # skew between the instances that issue and the ones that check them.
            "JWT_DECODE_LEEWAY": JWT_LEEWAY_SECONDS,
            "QUART_RATE_LIMITER_ENABLED": self.RATE_LIMIT_ENABLED,
            # Swagger UI's assets come from the ops blueprint, not a CDN (/docs works offline).
            "QUART_SCHEMA_SWAGGER_JS_URL": "/docs/static/swagger-ui-bundle.js",
            "QUART_SCHEMA_SWAGGER_CSS_URL": "/docs/static/swagger-ui.css",
        }


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
