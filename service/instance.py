"""The instance folder's secret: unset secrets filled in outside production."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from service.config import DEV_SECRET, MIN_SECRET_LENGTH, SECRET_NAMES, ConfigError, Settings

# The instance folder (beside the development database): the generated development secret.
INSTANCE_SECRET_FILE = Path("var") / "secret_key"


def with_instance_secrets(settings: Settings, secret_file: Path = INSTANCE_SECRET_FILE) -> Settings:
    """The settings with every unset secret filled in (development and testing only).

    Development keeps one random secret in the instance folder, made on first use (mode
    0600), so tokens survive restarts and every local process agrees; each secret is
    derived from it under its own name. Testing gets a fresh random one per process.
    Production never gets here with an unset secret: validation refuses it.
    """
    # Unset, or the public placeholder: not a secret anybody chose.
    missing = [name for name in SECRET_NAMES if getattr(settings, name) in ("", DEV_SECRET)]
    if not missing or settings.APP_ENV == "production":
        return settings
    development = settings.APP_ENV == "development"
    base = _instance_secret(secret_file).encode() if development else secrets.token_bytes(32)
    derived = {name: hmac.new(base, name.encode(), hashlib.sha256).hexdigest() for name in missing}
    return settings.model_copy(update=derived)


def _instance_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: a process starting at the same moment
        # sees either no file or the whole secret, and both then use the one that won.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        with open(draft, "x", opener=lambda name, flags: os.open(name, flags, 0o600)) as file:
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
