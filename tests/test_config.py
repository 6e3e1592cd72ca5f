"""Settings: production refuses unsafe values by name; URLs, limits and proxies parse."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from quart_rate_limiter import RateLimit

from service.config import DEV_SECRET, Settings
from service.instance import with_instance_secrets
from service.rate_limit.limiter import parse_limits

SERVICE = Path(sys.executable).with_name("service")
STRONG = "s" * 32
PRODUCTION_URL = "postgresql://app:pw@db.internal:5432/app"


def production(**overrides: Any) -> Settings:
    """Production settings that pass, unless an override breaks them."""
    values: dict[str, Any] = {
        "APP_ENV": "production",
        "DATABASE_URL": PRODUCTION_URL,
        "SECRET_KEY": STRONG,
        "JWT_SECRET_KEY": STRONG,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def test_production_with_safe_settings_is_accepted() -> None:
    settings = production()
    assert settings.APP_ENV == "production"
    assert settings.log_format == "json"


def test_production_without_database_url_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        production(DATABASE_URL=None)


def test_production_with_empty_database_url_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        production(DATABASE_URL="")


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SECRET_KEY"])
def test_production_with_default_secret_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        production(**{name: DEV_SECRET})


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SECRET_KEY"])
def test_production_with_short_secret_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        production(**{name: "s" * 31})


def test_production_with_several_problems_names_every_setting() -> None:
    with pytest.raises(ValidationError) as caught:
        production(DATABASE_URL=None, JWT_SECRET_KEY="short")
    message = str(caught.value)
    assert "DATABASE_URL" in message
    assert "JWT_SECRET_KEY" in message
    assert re.search(r"(?<!JWT_)SECRET_KEY", message) is None


@pytest.mark.parametrize("env", ["development", "testing"])
def test_non_production_with_defaults_is_accepted(env: str) -> None:
    settings = Settings(**{"APP_ENV": env}, _env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.SECRET_KEY == settings.JWT_SECRET_KEY == ""  # filled in by the app


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("sqlite+aiosqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
    ],
)
def test_database_url_plain_scheme_gets_async_driver(given: str, expected: str) -> None:
    settings = Settings(DATABASE_URL=given, _env_file=None)
    assert (settings.DATABASE_URL, settings.database_url) == (expected, expected)


def test_parse_limits_with_several_limits_returns_each() -> None:
    assert parse_limits("100/hour;10/minute") == [
        RateLimit(100, timedelta(hours=1)),
        RateLimit(10, timedelta(minutes=1)),
    ]


def test_parse_limits_with_spaces_and_trailing_separator_is_accepted() -> None:
    assert parse_limits(" 5 / second ; 1/day ;") == [
        RateLimit(5, timedelta(seconds=1)),
        RateLimit(1, timedelta(days=1)),
    ]


@pytest.mark.parametrize(
    "value", ["", ";", "100", "100/hours", "ten/minute", "0/minute", "-1/hour", "5/minute,1/hour"]
)
def test_parse_limits_with_bad_value_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"limit is required|is not <count>"):
        parse_limits(value)


@pytest.mark.parametrize("name", ["RATE_LIMIT_DEFAULT", "RATE_LIMIT_LOGIN", "RATE_LIMIT_USERS"])
def test_settings_with_bad_limit_are_refused_naming_it(name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: "100/fortnight"}, _env_file=None)


def test_settings_with_good_limits_are_accepted() -> None:
    settings = Settings(RATE_LIMIT_DEFAULT="100/hour;10/minute", _env_file=None)
    assert settings.RATE_LIMIT_DEFAULT == "100/hour;10/minute"


def test_trusted_proxies_with_ips_and_cidrs_parse_to_networks() -> None:
    settings = Settings(TRUSTED_PROXIES="10.0.0.1, 172.16.0.0/12,::1,fd00::/8", _env_file=None)
    proxies = settings.TRUSTED_PROXIES
    assert proxies == [
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("172.16.0.0/12"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("fd00::/8"),
    ]


def test_trusted_proxies_empty_means_none() -> None:
    assert Settings(TRUSTED_PROXIES="", _env_file=None).TRUSTED_PROXIES == []


@pytest.mark.parametrize("value", ["garbage", "10.0.0.1,nope", "10.0.0.0/33", "300.1.1.1"])
def test_trusted_proxies_with_garbage_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        Settings(TRUSTED_PROXIES=value, _env_file=None)


def test_settings_read_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    monkeypatch.setenv("PORT", "9001")
    settings = Settings(_env_file=None)
    assert settings.DATABASE_URL == "postgresql+asyncpg://u@h/d"
    assert settings.PORT == 9001


def test_database_timeout_defaults_to_five_seconds_and_reads_from_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).DATABASE_TIMEOUT == 5
    monkeypatch.setenv("DATABASE_TIMEOUT", "1.5")
    assert Settings(_env_file=None).DATABASE_TIMEOUT == 1.5


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_database_timeout_that_is_not_positive_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_TIMEOUT"):
        Settings(DATABASE_TIMEOUT=value, _env_file=None)


# -- the console script refuses to start ------------------------------------------------


def run_service(
    tmp_path: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `service …` in an empty directory (no .env) with exactly this environment."""
    return subprocess.run(
        [str(SERVICE), *args],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_service_run_in_production_without_database_url_exits_naming_it(tmp_path: Path) -> None:
    result = run_service(
        tmp_path,
        {"APP_ENV": "production", "SECRET_KEY": STRONG, "JWT_SECRET_KEY": STRONG},
        "run",
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_service_run_in_production_with_short_jwt_secret_exits_naming_it(tmp_path: Path) -> None:
    result = run_service(
        tmp_path,
        {
            "APP_ENV": "production",
            "DATABASE_URL": PRODUCTION_URL,
            "SECRET_KEY": STRONG,
            "JWT_SECRET_KEY": "short",
        },
        "run",
    )
    assert result.returncode != 0
    assert "JWT_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_service_run_in_production_with_only_short_jwt_secret_names_it(tmp_path: Path) -> None:
    """`APP_ENV=production JWT_SECRET_KEY=short make run` names the secret it was given."""
    result = run_service(tmp_path, {"APP_ENV": "production", "JWT_SECRET_KEY": "short"}, "run")
    assert result.returncode != 0
    assert "JWT_SECRET_KEY" in result.stderr
    assert "DATABASE_URL" in result.stderr


# -- unset secrets: generated, never the public placeholder ------------------------------


def test_development_without_secrets_makes_one_private_file_and_reuses_it(
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "var" / "secret_key"
    settings = Settings(APP_ENV="development", _env_file=None)
    first = with_instance_secrets(settings, secret_file)
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert len(secret_file.read_text()) >= 32
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        value = getattr(first, name)
        assert len(value) >= 32
        assert value != DEV_SECRET
        assert secret_file.read_text() not in value
    assert first.SECRET_KEY != first.JWT_SECRET_KEY  # one secret per purpose
    again = with_instance_secrets(settings, secret_file)
    assert (again.SECRET_KEY, again.JWT_SECRET_KEY) == (first.SECRET_KEY, first.JWT_SECRET_KEY)


def test_development_with_the_old_public_default_gets_a_generated_secret(tmp_path: Path) -> None:
    settings = Settings(APP_ENV="development", JWT_SECRET_KEY=DEV_SECRET, _env_file=None)
    resolved = with_instance_secrets(settings, tmp_path / "secret_key")
    assert resolved.JWT_SECRET_KEY != DEV_SECRET


def test_explicit_secrets_are_kept_and_no_file_is_written(tmp_path: Path) -> None:
    settings = Settings(
        APP_ENV="development", SECRET_KEY=STRONG, JWT_SECRET_KEY=STRONG, _env_file=None
    )
    assert with_instance_secrets(settings, tmp_path / "secret_key") == settings
    assert not (tmp_path / "secret_key").exists()


def test_testing_without_secrets_gets_random_ones_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(APP_ENV="testing", _env_file=None)
    one = with_instance_secrets(settings, tmp_path / "secret_key")
    two = with_instance_secrets(settings, tmp_path / "secret_key")
    assert len(one.JWT_SECRET_KEY) >= 32
    assert one.JWT_SECRET_KEY != two.JWT_SECRET_KEY
    assert not (tmp_path / "secret_key").exists()


def test_app_in_development_signs_with_the_instance_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    from service.app import create_app

    app = create_app(Settings(APP_ENV="development", LOG_LEVEL="WARNING", _env_file=None))
    assert (tmp_path / "var" / "secret_key").is_file()
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        assert app.config[name] not in {"", DEV_SECRET}
    restarted = create_app(Settings(APP_ENV="development", LOG_LEVEL="WARNING", _env_file=None))
    assert restarted.config["JWT_SECRET_KEY"] == app.config["JWT_SECRET_KEY"]


def test_production_with_unset_secrets_is_refused_naming_them() -> None:
    with pytest.raises(ValidationError) as caught:
        production(SECRET_KEY="", JWT_SECRET_KEY="")
    assert "JWT_SECRET_KEY" in str(caught.value)
    assert re.search(r"(?<!JWT_)SECRET_KEY", str(caught.value))


def test_workers_default_to_one_per_core_with_redis_and_one_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    redis = "redis://127.0.0.1:6379/0"
    assert production(REDIS_URL=redis).workers == 8
    # Without Redis the cache and the limits live in the process: one process only.
    assert production().workers == 1
    assert production(WORKERS=3).workers == 3
    assert production(WORKERS=3, REDIS_URL=redis).workers == 3
    with pytest.raises(ValidationError, match="WORKERS"):
        production(WORKERS=-1)
