"""Bulk user import: read a CSV or JSON Lines file, check every row, then write all or nothing.

Rows carry a plain `password` (hashed here with argon2id on every core) or a
`password_hash` (an argon2id hash from another system, stored as it is).
"""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.common.requests import parse_json, unstorable_text
from service.common.schemas import validation_fields
from service.errors import BadRequest, InvalidInput
from service.extensions import passwords
from service.users.models import User
from service.users.schemas import UserCreate, UserImportHashed

BATCH_SIZE = 1000

ImportedUser = UserCreate | UserImportHashed


class ImportFileError(ValueError):
    """The file as a whole cannot be read (format, header, encoding)."""


def read_users(path: Path) -> tuple[list[ImportedUser], list[tuple[int, str]]]:
    """The good rows' users, and each bad row's number and problem (duplicates in the file
    too); raises ImportFileError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as error:
        raise ImportFileError(f"cannot read {path}: {error}") from None
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".jsonl", ".ndjson", ".json"}:
        raise ImportFileError(f"{path.name}: use a .csv or .jsonl file")
    users: list[ImportedUser] = []
    problems: list[tuple[int, str]] = []
    first_seen: dict[str, int] = {}
    # The bar moves as the parser takes each line, so a big file shows progress from its
    # first row (validating 100,000 rows takes seconds) and is full when all are read;
    # it is redrawn at most ~500 times, not once per line.
    lines = text.splitlines()
    steps = max(1, len(lines) // 500)
    with click.progressbar(
        lines, label="Checking rows", file=sys.stderr, update_min_steps=steps
    ) as bar:
        for number, user in _csv_rows(bar) if suffix == ".csv" else _json_lines(bar):
            if isinstance(user, str):
                problems.append((number, user))
            elif user.email in first_seen:
                problems.append((number, f"duplicate of row {first_seen[user.email]}"))
            else:
                first_seen[user.email] = number
                users.append(user)
    if not users and not problems:
        raise ImportFileError("The file holds no rows")
    return users, problems


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, ImportedUser | str]]:
    reader = csv.DictReader(lines)
    header = set(reader.fieldnames or [])
    if not {"email", "name"} <= header or not header & {"password", "password_hash"}:
        raise ImportFileError(
            "the CSV header must name email, name and password or password_hash "
            f"(found: {', '.join(reader.fieldnames or []) or 'nothing'})"
        )
    for number, record in enumerate(reader, start=1):
        if None in record:
            yield number, "the row has more fields than the header"
            continue
        # A file with both password columns fills one per row: the empty one is absent,
        # and so is an empty is_admin (false).
        optional = {"password", "password_hash", "is_admin"}
        yield number, _validate({k: v for k, v in record.items() if v != "" or k not in optional})


def _json_lines(lines: Iterable[str]) -> Iterator[tuple[int, ImportedUser | str]]:
    for number, line in enumerate((line for line in lines if line.strip()), start=1):
        try:
            yield number, _validate(parse_json(line.encode()))  # as the API reads a body
        except BadRequest as error:
            yield number, error.message
        except InvalidInput as error:
            yield number, _fields_text((error.details or {}).get("fields", {}))


def _validate(record: Any) -> ImportedUser | str:
    """The row as a user, or what is wrong with it."""
    if not isinstance(record, dict):
        return "each row must be an object"
    unstorable = unstorable_text(record)  # CSV cells too: PostgreSQL cannot store NUL
    if unstorable:
        return _fields_text(unstorable)
    if "password" in record and "password_hash" in record:
        return "give password or password_hash, not both"
    schema = UserImportHashed if "password_hash" in record else UserCreate
    try:
        # Lax, unlike the API: files spell is_admin as text ("true", "yes", "0"…).
        return schema.model_validate(record, strict=False)
    except PydanticValidationError as error:
        return _fields_text(validation_fields(error))


def _fields_text(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())


async def import_users(session: AsyncSession, *, users: Sequence[ImportedUser]) -> tuple[int, int]:
    """Write every user whose email is new, with progress bars on stderr; (created, skipped)."""
    # Known emails are left out before hashing: no argon2 time is spent on them.
    existing: set[str] = set()
    for start in range(0, len(users), BATCH_SIZE):
        emails = [user.email for user in users[start : start + BATCH_SIZE]]
        existing.update(await session.scalars(select(User.email).where(User.email.in_(emails))))
    fresh = [user for user in users if user.email not in existing]
    plain = [user.password for user in fresh if isinstance(user, UserCreate)]
    hashes = iter(await _hash_passwords(plain))  # in the order of `fresh`
    values = [
        user.model_dump(include={"email", "name", "is_admin"})
        | {"password_hash": next(hashes) if isinstance(user, UserCreate) else user.password_hash}
        for user in fresh
    ]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(User).on_conflict_do_nothing(index_elements=["email"])
    with click.progressbar(length=len(values), label="Writing users", file=sys.stderr) as bar:
        for start in range(0, len(values), BATCH_SIZE):
            batch = values[start : start + BATCH_SIZE]
            await session.execute(statement, batch)
            bar.update(len(batch))
    return len(fresh), len(users) - len(fresh)


async def _hash_passwords(plain: list[str]) -> list[str]:
    """argon2id hashes (each with its own salt) on the hashing pool's thread per core.

    argon2 releases the GIL while it works, so threads keep every core busy.
    """
    if not plain:
        return []
    with click.progressbar(length=len(plain), label="Hashing passwords", file=sys.stderr) as bar:
        hashing = [asyncio.ensure_future(passwords.hash_password(each)) for each in plain]
        for task in hashing:
            task.add_done_callback(lambda _: bar.update(1))
        return list(await asyncio.gather(*hashing))
