"""One settings class, read from the environment or a `.env` file."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The public placeholder earlier versions defaulted to: never used to sign anything.
DEV_SECRET = "dev-secret-change-me"
DEV_DATABASE_URL = "sqlite+aiosqlite:///var/service.db"
# The instance folder (beside the development database): the generated development secret.
INSTANCE_SECRET_FILE = Path("var") / "secret_key"
MIN_SECRET_LENGTH = 32
SECRET_NAMES = ("SECRET_KEY", "JWT_SECRET_KEY")

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A setting is missing or unsafe; the message names the setting."""


def parse_limits(value: str) -> list[tuple[int, timedelta]]:
    """Parse `100/hour;10/minute` into (count, period) pairs."""
    limits = []
    for part in value.split(";"):
        if not part.strip():
            continue
        match = _LIMIT_RE.match(part)
        if match is None or int(match.group(1)) < 1:
            raise ValueError(f"{part.strip()!r} is not <count>/<second|minute|hour|day>")
        limits.append((int(match.group(1)), timedelta(seconds=_PERIODS[match.group(2)])))
    if not limits:
        raise ValueError("at least one limit is required")
    return limits


def normalise_database_url(url: str) -> str:
    """Pick the async driver for plain URLs, as container platforms pass them."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


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
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
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
        return normalise_database_url(value) if value else None

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
            if is_placeholder_secret(secret) or len(secret) < MIN_SECRET_LENGTH:
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
        }


def is_placeholder_secret(value: str) -> bool:
    """Unset, or the public placeholder: not a secret anybody chose."""
    return not value or value == DEV_SECRET


def with_instance_secrets(settings: Settings, secret_file: Path = INSTANCE_SECRET_FILE) -> Settings:
    """The settings with every unset secret filled in (development and testing only).

    Development keeps one random secret in the instance folder, made on first use (mode
    0600), so tokens survive restarts and every local process agrees; each secret is
    derived from it under its own name. Testing gets a fresh random one per process.
    Production never gets here with an unset secret: validation refuses it.
    """
    missing = [name for name in SECRET_NAMES if is_placeholder_secret(getattr(settings, name))]
    if not missing or settings.APP_ENV == "production":
        return settings
    if settings.APP_ENV == "development":
        base = _instance_secret(secret_file).encode()
    else:
        base = secrets.token_bytes(32)
    derived = {name: hmac.new(base, name.encode(), hashlib.sha256).hexdigest() for name in missing}
    return settings.model_copy(update=derived)


def _instance_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: a process starting at the same moment
        # sees either no file or the whole secret, and both then use the one that won.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    value = path.read_text().strip()
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{path} must hold a random secret of at least {MIN_SECRET_LENGTH} chars")
    return value


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
