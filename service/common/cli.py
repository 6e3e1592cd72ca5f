"""Helpers for click commands that need the app's resources."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click
from quart import Quart
from quart.cli import ScriptInfo, pass_script_info
from sqlalchemy.ext.asyncio import AsyncSession

from service.extensions import db

T = TypeVar("T")


def fail(*lines: str) -> NoReturn:
    """Print `lines` in red on stderr and exit 1."""
    for line in lines:
        click.secho(line, fg="red", err=True)
    sys.exit(1)


def run_in_transaction(app: Quart, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work(session)` with the app's serving resources started, in one transaction of its
    database committed when it returns (a session connects only when first used)."""

    async def runner() -> T:
        async with app.app_context():
            await app.startup()
            try:
                async with db.session_for_task() as session, session.begin():
                    return await work(session)
            finally:
                await app.shutdown()

    return asyncio.run(runner())


def purge_command(
    name: str, *, purged: str
) -> Callable[[Callable[[AsyncSession], Awaitable[int]]], click.Command]:
    """Make `purge(session) -> count` the command `name`, with its docstring as help: it runs
    in one transaction and tells how many `purged` went."""

    def make(purge: Callable[[AsyncSession], Awaitable[int]]) -> click.Command:
        @click.command(name, help=purge.__doc__)
        @pass_script_info
        def command(info: ScriptInfo) -> None:
            count = run_in_transaction(info.load_app(), purge)
            click.secho(f"✓ Purged {count} expired {purged}", fg="green")

        return command

    return make
