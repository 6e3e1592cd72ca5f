"""Bulk user import: read a CSV or JSON Lines file, check every row, then write all or nothing.

Rows carry a plain `password` (hashed here with argon2id on every core) or a
`password_hash` (an argon2id hash from another system, stored as it is).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import passwords
from service.common.requests import parse_json, unstorable_text
from service.common.schemas import validation_fields
from service.errors import BadRequest, InvalidInput
from service.extensions import db
from service.users.models import User
from service.users.schemas import UserCreate, UserImportHashed

BATCH_SIZE = 1000
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (format, header, encoding)."""


@dataclass(frozen=True)
class Problem:
    row: int
    message: str


@dataclass(frozen=True)
class ImportRow:
    row: int
    email: str
    name: str
    is_admin: bool
    password: str | None = None
    password_hash: str | None = None


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int


class Progress(Protocol):
    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def update(self, n_steps: int) -> None: ...


ProgressFactory = Callable[[str, int], Progress]


def read_rows(path: Path) -> list[tuple[int, Any]]:
    """(row number, raw record) for every data row; raises ImportFileError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as error:
        raise ImportFileError(f"cannot read {path}: {error}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return list(_csv_rows(text))
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return list(_json_lines(text))
    raise ImportFileError(f"{path.name}: use a .csv or .jsonl file")


def _csv_rows(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(text.splitlines())
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
        # A file with both password columns fills one per row: the empty one is absent.
        optional = {"password", "password_hash"}
        yield number, {k: v for k, v in record.items() if v != "" or k not in optional}


def _json_lines(text: str) -> Iterator[tuple[int, Any]]:
    number = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        number += 1
        try:
            yield number, parse_json(line.encode())  # as the API reads a body
        except BadRequest as error:
            yield number, error.message
        except InvalidInput as error:
            yield number, _fields_text((error.details or {}).get("fields", {}))


def validate_rows(raw_rows: Sequence[tuple[int, Any]]) -> tuple[list[ImportRow], list[Problem]]:
    """Check each row with the API's rules; duplicates inside the file are problems too."""
    rows: list[ImportRow] = []
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for number, record in raw_rows:
        row = _validate(number, record)
        if isinstance(row, Problem):
            problems.append(row)
            continue
        if row.email in first_seen:
            problems.append(Problem(number, f"duplicate of row {first_seen[row.email]}"))
            continue
        first_seen[row.email] = number
        rows.append(row)
    return rows, problems


def _validate(number: int, record: Any) -> ImportRow | Problem:
    if isinstance(record, str):
        return Problem(number, record)
    if not isinstance(record, dict):
        return Problem(number, "each row must be an object")
    unstorable = unstorable_text(record)  # CSV cells too: PostgreSQL cannot store NUL
    if unstorable:
        return Problem(number, _fields_text(unstorable))
    record = dict(record)
    if isinstance(record.get("is_admin"), str):
        flag = record["is_admin"].strip().lower()
        if flag not in _TRUE | _FALSE:
            return Problem(number, f"is_admin: {record['is_admin']!r} is not true or false")
        record["is_admin"] = flag in _TRUE
    if "password" in record and "password_hash" in record:
        return Problem(number, "give password or password_hash, not both")
    try:
        if "password_hash" in record:
            hashed = UserImportHashed.model_validate(record)
            return ImportRow(
                number,
                hashed.email,
                hashed.name,
                hashed.is_admin,
                password_hash=hashed.password_hash,
            )
        plain = UserCreate.model_validate(record)
    except PydanticValidationError as error:
        return Problem(number, _fields_text(validation_fields(error)))
    return ImportRow(number, plain.email, plain.name, plain.is_admin, password=plain.password)


def _fields_text(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())


async def import_rows(rows: Sequence[ImportRow], *, progress: ProgressFactory) -> ImportResult:
    """Write every row whose email is new, in one transaction."""
    session = db.session_for_task()
    async with session, session.begin():
        existing = await _existing_emails(session, [row.email for row in rows])
        fresh = [row for row in rows if row.email not in existing]
        to_hash = [row for row in fresh if row.password is not None]
        hashed = await _hash_passwords([row.password or "" for row in to_hash], progress)
        hash_of_row = {row.row: value for row, value in zip(to_hash, hashed, strict=True)}
        values = []
        for row in fresh:
            password_hash = row.password_hash or hash_of_row[row.row]
            values.append(
                {
                    "email": row.email,
                    "name": row.name,
                    "is_admin": row.is_admin,
                    "password_hash": password_hash,
                }
            )
        insert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        statement = insert(User).on_conflict_do_nothing(index_elements=["email"])
        with progress("Writing users", len(values)) as bar:
            for start in range(0, len(values), BATCH_SIZE):
                batch = values[start : start + BATCH_SIZE]
                await session.execute(statement, batch)
                bar.update(len(batch))
    return ImportResult(created=len(fresh), skipped=len(rows) - len(fresh))


async def _existing_emails(session: AsyncSession, emails: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(emails), BATCH_SIZE):
        chunk = emails[start : start + BATCH_SIZE]
        found.update(await session.scalars(select(User.email).where(User.email.in_(chunk))))
    return found


async def _hash_passwords(plain: list[str], progress: ProgressFactory) -> list[str]:
    """argon2id hashes (each with its own salt) on the hashing pool's thread per core.

    argon2 releases the GIL while it works, so threads keep every core busy.
    """
    if not plain:
        return []
    loop = asyncio.get_running_loop()
    pool = passwords.hashing_pool
    with progress("Hashing passwords", len(plain)) as bar:
        futures = [loop.run_in_executor(pool, passwords.hash_password_sync, p) for p in plain]
        for future in futures:
            future.add_done_callback(lambda _: bar.update(1))
        return list(await asyncio.gather(*futures))
