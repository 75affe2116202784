"""The ``magflow`` command line.

This module stays light: ``magflow --version`` and ``magflow --help`` import Typer and Rich
only. Each command lives in a module loaded when that command runs (:data:`COMMANDS`), because
importing the application (SQLAlchemy, FastAPI, Alembic, the eMAG client...) takes seconds.
The helpers commands share (:func:`fail`, :func:`run_with_context`, ...) import what they need
when called.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer import _click as click  # the click Typer vendors (its types are Typer's own)
from typer.core import TyperCommand, TyperGroup

from magflow import __version__

if TYPE_CHECKING:
    from magflow.context import AppContext
    from magflow.settings import Settings

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

#: Set by ``--verbose``: keep the INFO logs of Alembic (migrations) and friends.
_verbose = False


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is (``module:attribute``, a function or a Typer app) and its help line,
    so the command list is shown without importing any command."""

    target: str
    help: str


COMMANDS: dict[str, LazyCommand] = {
    "serve": LazyCommand("magflow.cli_commands:serve", "Run the API server."),
    "db": LazyCommand("magflow.cli_commands:db_app", "Database maintenance."),
    "users": LazyCommand("magflow.cli_commands:users_app", "MagFlow users (people who log in)."),
    "accounts": LazyCommand("magflow.cli_commands:accounts_app", "eMAG seller accounts."),
    "sync": LazyCommand(
        "magflow.sync.cli:sync_app",
        "Sync offers or orders from eMAG now; confirm offers withheld from missing.",
    ),
    "export": LazyCommand(
        "magflow.exports.cli:export_command", "Export orders, offers or customers (CSV, XLSX)."
    ),
    "worker": LazyCommand("magflow.cli_commands:worker", "Run a procrastinate worker."),
    "simulator": LazyCommand(
        "magflow.emag_sim.cli:simulator", "Run the eMAG marketplace simulator."
    ),
    "demo": LazyCommand(
        "magflow.cli_commands:demo", "A working demo: simulator, accounts, first sync, server."
    ),
}


def load_command(name: str) -> click.Command:
    """Import a command's module and build its click command."""
    module_name, attribute = COMMANDS[name].target.split(":")
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    single = typer.Typer(add_completion=False)
    single.command(name)(target)
    return typer.main.get_command(single)


class LazyGroup(TyperGroup):
    """The root group: commands are imported when run; the help lists them from COMMANDS."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help)
        return load_command(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=LazyGroup,
    help="MagFlow: operations hub for eMAG marketplace sellers.",
    no_args_is_help=True,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"magflow {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show the migrations' INFO logs.")
    ] = False,
) -> None:
    """MagFlow. Settings come from MAGFLOW_* environment variables (see the README)."""
    global _verbose
    _verbose = verbose


def settings_or_exit() -> Settings:
    from magflow.common.logging import configure_logging
    from magflow.settings import Settings

    try:
        settings = Settings()
    except Exception as exc:
        raise fail(f"invalid settings: {exc}") from exc
    configure_logging(settings.log_format, settings.log_level)
    if not _verbose:
        # Alembic announces its context and every revision at INFO on each start.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


def run_with_context(fn: Callable[[AppContext], Awaitable[T]]) -> T:
    """Migrate, build a context, run ``fn`` in it, and close it."""
    from magflow.context import AppContext
    from magflow.db.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings.async_database_url)

    async def runner() -> T:
        ctx = AppContext.build(settings)
        try:
            return await fn(ctx)
        finally:
            await ctx.close()

    return asyncio.run(runner())


def read_secret(*, from_stdin: bool, env_var: str | None, prompt: str) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise fail("no password on standard input")
        return value
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    if not sys.stdin.isatty():
        raise fail(
            "no password given: use --password-stdin"
            + (f" or set {env_var}" if env_var else "")
            + " when not running in a terminal"
        )
    prompted: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return prompted


#: The options of every command that takes a password (``users create``, ``users reset-password``).
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
GeneratePasswordOption = Annotated[
    bool, typer.Option("--generate-password", help="Generate a password and print it once.")
]

__all__: list[Any] = [
    "GeneratePasswordOption",
    "PasswordStdinOption",
    "app",
    "fail",
    "read_secret",
    "run_with_context",
    "settings_or_exit",
]
