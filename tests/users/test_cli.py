"""`create-user`, `user list` and `import-users`, through click on both backends."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from quart.cli import ScriptInfo
from sqlalchemy import func, select

from service.app import create_app
from service.config import Settings
from service.database import create_engine
from service.extensions import passwords
from service.users import importer
from service.users.cli import create_user_command, import_users_command, user_group
from service.users.models import User


def invoke(settings: Settings, command: click.Command, args: list[str], **kwargs: Any) -> Result:
    info = ScriptInfo(create_app=lambda: create_app(settings))
    return CliRunner().invoke(command, args, obj=info, catch_exceptions=False, **kwargs)


def users_in(settings: Settings) -> dict[str, User]:
    async def fetch() -> dict[str, User]:
        engine = create_engine(settings)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(User))).all()
        await engine.dispose()
        return {row.email: row for row in rows}  # type: ignore[misc]

    return asyncio.run(fetch())


def count_users(settings: Settings) -> int:
    async def fetch() -> int:
        engine = create_engine(settings)
        async with engine.connect() as connection:
            value = await connection.scalar(select(func.count()).select_from(User))
        await engine.dispose()
        return int(value or 0)

    return asyncio.run(fetch())


def test_create_user_with_password_option(settings: Settings) -> None:
    result = invoke(
        settings,
        create_user_command,
        ["Root@Example.com", "Root", "--admin", "--password", "rootpass1"],
    )
    assert result.exit_code == 0, result.output
    assert "✓ Created administrator root@example.com" in result.output
    stored = users_in(settings)["root@example.com"]
    assert stored.is_admin is True
    assert asyncio.run(passwords.verify_password(stored.password_hash, "rootpass1"))


def test_create_user_prompts_for_password_twice(settings: Settings) -> None:
    result = invoke(
        settings, create_user_command, ["p@example.com", "P"], input="promptpass\npromptpass\n"
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") >= 1
    assert "Repeat for confirmation" in result.output
    assert "p@example.com" in users_in(settings)


def test_create_user_invalid_or_duplicate_exits_1(settings: Settings) -> None:
    bad = invoke(settings, create_user_command, ["not-an-email", "X", "--password", "longenough"])
    assert bad.exit_code == 1
    assert "✗ email" in bad.output
    invoke(settings, create_user_command, ["d@example.com", "D", "--password", "longenough"])
    dup = invoke(settings, create_user_command, ["D@example.com", "D", "--password", "longenough"])
    assert dup.exit_code == 1
    assert "already exists" in dup.output


def test_user_list_respects_limit(settings: Settings) -> None:
    for number in range(3):
        invoke(
            settings,
            create_user_command,
            [f"l{number}@example.com", "L", "--password", "longenough"],
        )
    result = invoke(settings, user_group, ["list", "--limit", "2"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert "l0@example.com" in lines[0]
    assert "l1@example.com" in lines[1]


@pytest.mark.parametrize("limit", ["100000", str(2**63), "1" + "0" * 30])
def test_user_list_takes_any_positive_limit(settings: Settings, limit: str) -> None:
    for number in range(2):
        invoke(
            settings,
            create_user_command,
            [f"any{number}@example.com", "A", "--password", "longenough"],
        )
    result = invoke(settings, user_group, ["list", "--limit", limit])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 2


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_user_list_refuses_a_limit_that_is_not_positive(settings: Settings, limit: str) -> None:
    result = invoke(settings, user_group, ["list", "--limit", limit])
    assert result.exit_code == 2
    assert "--limit" in result.output


def test_import_csv_with_passwords_skips_existing(settings: Settings, tmp_path: Path) -> None:
    invoke(settings, create_user_command, ["old@example.com", "Old", "--password", "longenough"])
    file = tmp_path / "users.csv"
    file.write_text(
        "email,name,password,is_admin\n"
        "new1@example.com,New One,password1,false\n"
        "NEW2@example.com,New Two,password2,true\n"
        "old@example.com,Old Again,password3,\n"
    )
    result = invoke(settings, import_users_command, [str(file)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 user(s), skipped 1 existing" in result.output
    stored = users_in(settings)
    assert stored["new2@example.com"].is_admin is True
    assert stored["old@example.com"].name == "Old"
    hashes = {stored["new1@example.com"].password_hash, stored["new2@example.com"].password_hash}
    assert all(value.startswith("$argon2id$") for value in hashes)
    assert asyncio.run(
        passwords.verify_password(stored["new1@example.com"].password_hash, "password1")
    )


def test_import_same_password_gets_distinct_salts(settings: Settings, tmp_path: Path) -> None:
    file = tmp_path / "same.csv"
    file.write_text("email,name,password\na@example.com,A,samesame1\nb@example.com,B,samesame1\n")
    assert invoke(settings, import_users_command, [str(file)]).exit_code == 0
    stored = users_in(settings)
    assert stored["a@example.com"].password_hash != stored["b@example.com"].password_hash


def test_import_jsonl_with_hashes_stores_them_as_given(settings: Settings, tmp_path: Path) -> None:
    hashed = asyncio.run(passwords.hash_password("migrated-pass"))
    file = tmp_path / "users.jsonl"
    file.write_text(
        json.dumps({"email": "m@example.com", "name": "M", "password_hash": hashed})
        + "\n\n"
        + json.dumps(
            {"email": "n@example.com", "name": "N", "password_hash": hashed, "is_admin": True}
        )
        + "\n"
    )
    result = invoke(settings, import_users_command, [str(file)])
    assert result.exit_code == 0, result.output
    stored = users_in(settings)
    assert stored["m@example.com"].password_hash == hashed
    assert stored["n@example.com"].is_admin is True


def test_import_one_bad_row_writes_nothing_and_names_rows(
    settings: Settings, tmp_path: Path
) -> None:
    file = tmp_path / "bad.csv"
    file.write_text(
        "email,name,password\n"
        "ok1@example.com,Ok,password1\n"
        "broken,Bad Email,password2\n"
        "ok2@example.com,Ok,password3\n"
        "short@example.com,Short,pw\n"
        "ok1@example.com,Again,password4\n"
    )
    result = invoke(settings, import_users_command, [str(file)])
    assert result.exit_code == 1
    assert "3 bad row(s); nothing was imported" in result.output
    assert "row 2: email" in result.output
    assert "row 4: password" in result.output
    assert "row 5: duplicate of row 1" in result.output
    assert count_users(settings) == 0


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("nul.csv", "email,name,password\na@example.com,A\x00n,password1\n", "row 1: name"),
        (
            "nul.jsonl",
            '{"email": "a@example.com", "name": "A\\u0000n", "password": "password1"}\n',
            "row 1: name",
        ),
        (
            "deep.jsonl",
            '{"email": "a@example.com", "name": ' + "[" * 5000 + "]" * 5000 + "}\n",
            "row 1: The request body nests deeper",
        ),
    ],
)
def test_import_text_no_backend_can_store_is_a_bad_row(
    settings: Settings, tmp_path: Path, name: str, content: str, problem: str
) -> None:
    file = tmp_path / name
    file.write_text(content)
    result = invoke(settings, import_users_command, [str(file)])
    assert result.exit_code == 1, result.output
    assert problem in result.output
    assert count_users(settings) == 0


def test_import_malformed_files_exit_nonzero(settings: Settings, tmp_path: Path) -> None:
    cases = {
        "no_password.csv": "email,name\na@example.com,A\n",
        "bad_hash.jsonl": json.dumps(
            {"email": "a@example.com", "name": "A", "password_hash": "$2b$x"}
        ),
        "not_object.jsonl": "[1, 2]\n",
        "broken.jsonl": '{"email": \n',
        "extra.csv": "email,name,password,role\na@example.com,A,password1,boss\n",
        "users.txt": "anything",
        "empty.csv": "email,name,password\n",
    }
    for name, content in cases.items():
        file = tmp_path / name
        file.write_text(content)
        result = invoke(settings, import_users_command, [str(file)])
        assert result.exit_code == 1, (name, result.output)
        assert "✗" in result.output, name
    assert count_users(settings) == 0


def test_import_shows_progress_while_it_checks_rows(settings: Settings, tmp_path: Path) -> None:
    file = tmp_path / "few.csv"
    file.write_text("email,name,password\np1@example.com,P,password1\np2@example.com,P,password2\n")
    result = invoke(settings, import_users_command, [str(file)])
    assert result.exit_code == 0, result.output
    # On stderr (stdout keeps only the summary), before the hashing and writing bars.
    assert "Checking rows" not in result.stdout
    stages = ["Checking rows", "Hashing passwords", "Writing users"]
    assert [result.stderr.find(stage) for stage in stages] == sorted(
        result.stderr.find(stage) for stage in stages
    )
    assert -1 not in [result.stderr.find(stage) for stage in stages], result.stderr


def test_import_progress_shows_before_bad_rows_are_reported(
    settings: Settings, tmp_path: Path
) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text('{"email": "x@example.com", "name": "X", "password": "pw"}\n')
    result = invoke(settings, import_users_command, [str(file)])
    assert result.exit_code == 1
    assert result.stderr.index("Checking rows") < result.stderr.index("1 bad row(s)")


class Terminal(io.StringIO):
    """stderr as a terminal, where click draws the bar itself rather than only its label."""

    def isatty(self) -> bool:
        return True


def test_import_check_bar_is_drawn_to_the_end_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "rows.jsonl"
    rows = [{"email": f"t{n}@example.com", "name": "T", "password": "password1"} for n in range(3)]
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    users, problems = importer.read_users(file)
    assert (len(users), problems) == (3, [])
    drawn = terminal.getvalue()
    assert "Checking rows" in drawn
    assert "0%" in drawn
    assert "100%" in drawn
