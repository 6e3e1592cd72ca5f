"""The first administrator, from FIRST_ADMIN_EMAIL and FIRST_ADMIN_PASSWORD.

`service init-db` runs on every release, so this must be idempotent: it creates the user
only when no user has the email, and never changes an existing user (their password may
have been changed since, or their role taken away on purpose).
"""

from __future__ import annotations

from functools import partial
from typing import Literal

from pydantic import ValidationError
from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession

from service.common.cli import run_in_transaction
from service.common.schemas import validation_fields
from service.config import Settings
from service.users import services
from service.users.exceptions import EmailTaken
from service.users.schemas import UserCreate

# Shown in lists until the administrator renames themselves.
FIRST_ADMIN_NAME = "Administrator"
SETTING_OF = {"email": "FIRST_ADMIN_EMAIL", "password": "FIRST_ADMIN_PASSWORD"}
# What .env.example and the Kubernetes Secret template hold: long enough for sign-up's
# rules, so it is refused by name (a forgotten placeholder must not become a password).
PLACEHOLDER = "CHANGE-ME"

Outcome = Literal["created", "exists", "exists-not-admin"]
# The one line `service init-db` prints for each outcome, and its colour.
SHOWN: dict[Outcome, tuple[str, str]] = {
    "created": ("✓ First admin {email} created", "green"),
    "exists": ("✓ First admin {email} exists (left unchanged)", "green"),
    "exists-not-admin": (
        "! First admin {email} exists as a user who is not an administrator "
        "(left unchanged: an administrator can promote them)",
        "yellow",
    ),
}


class FirstAdminError(ValueError):
    """The settings name no valid first admin; the message is one line without the password."""


def first_admin(settings: Settings) -> UserCreate | None:
    """The user the settings ask for (validated like sign-up), or None when both are unset."""
    email, password = settings.FIRST_ADMIN_EMAIL, settings.FIRST_ADMIN_PASSWORD
    if email is None and password is None:
        return None
    if email is None or password is None:
        missing = "FIRST_ADMIN_EMAIL" if email is None else "FIRST_ADMIN_PASSWORD"
        raise FirstAdminError(f"{missing} is not set: set both FIRST_ADMIN_* settings or neither")
    if password.get_secret_value() == PLACEHOLDER:
        raise FirstAdminError(f"FIRST_ADMIN_PASSWORD is still the placeholder {PLACEHOLDER}")
    try:
        return UserCreate(
            email=email, name=FIRST_ADMIN_NAME, password=password.get_secret_value(), is_admin=True
        )
    except ValidationError as error:
        problems = (
            f"{SETTING_OF.get(field, field)}: {'; '.join(messages)}"
            for field, messages in validation_fields(error).items()
        )
        raise FirstAdminError("; ".join(problems)) from None


async def _ensure(session: AsyncSession, *, data: UserCreate) -> Outcome:
    existing = await services.find_user_by_email(session, data.email)
    if existing is not None:
        return "exists" if existing.is_admin else "exists-not-admin"
    await services.create_user(session, data=data)
    return "created"


def ensure_first_admin(app: Quart, data: UserCreate) -> Outcome:
    """Create the first admin unless a user has its email; what was found or done."""
    work = partial(_ensure, data=data)
    try:
        return run_in_transaction(app, work)
    except EmailTaken:
        # Another init-db (a pod of the same rollout) created it between the check and the
        # insert; that transaction was rolled back, and a second look finds the user.
        return run_in_transaction(app, work)
