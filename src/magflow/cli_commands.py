"""The ``magflow`` commands that need the application (database, settings, accounts...).

Loaded by :mod:`magflow.cli` only when one of them runs, so that ``magflow --version`` and
``magflow --help`` start without importing SQLAlchemy, FastAPI or Alembic.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from magflow.accounts import service as accounts_service
from magflow.accounts.models import AccountType
from magflow.accounts.schemas import AccountCreate, PlatformCode
from magflow.auth import service as auth_service
from magflow.auth.models import Role
from magflow.auth.passwords import generate_password
from magflow.cli import (
    GeneratePasswordOption,
    PasswordStdinOption,
    fail,
    read_secret,
    run_with_context,
    settings_or_exit,
)
from magflow.context import AppContext
from magflow.db.migrate import upgrade

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True, add_completion=False)
users_app = typer.Typer(
    help="MagFlow users (people who log in).", no_args_is_help=True, add_completion=False
)
accounts_app = typer.Typer(help="eMAG seller accounts.", no_args_is_help=True, add_completion=False)

console = Console()


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the API server (migrates the database first)."""
    import uvicorn

    from magflow.app import create_app

    settings = settings_or_exit()
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = settings_or_exit()
    upgrade(settings.async_database_url)
    console.print("database is at the latest revision")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login email.")],
    role: Annotated[Role, typer.Option(help="admin, operator or viewer.")] = Role.viewer,
    password_stdin: PasswordStdinOption = False,
    generate: GeneratePasswordOption = False,
) -> None:
    """Create a user. The password is prompted for, read from stdin, or generated."""
    password = (
        generate_password()
        if generate
        else read_secret(from_stdin=password_stdin, env_var=None, prompt="Password")
    )

    async def create(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            await auth_service.create_user(session, email, password, role)
            await session.commit()

    try:
        run_with_context(create)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    console.print(f"created {role.value} {auth_service.normalize_email(email)}")
    if generate:
        console.print(f"password: {password}", highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List users."""
    from magflow.auth import repository

    async def fetch(ctx: AppContext) -> list[tuple[int, str, str, bool]]:
        async with ctx.db.session() as session:
            return [
                (u.id, u.email, u.role, u.is_active) for u in await repository.list_users(session)
            ]

    table = Table("id", "email", "role", "active")
    for user_id, email, role, active in run_with_context(fetch):
        table.add_row(str(user_id), email, role, "yes" if active else "no")
    console.print(table)


def _register_password_commands() -> None:
    """``users reset-password`` and ``users unlock`` live with the auth domain (auth.cli)."""
    from magflow.auth.cli import reset_password_command, unlock_command

    users_app.command("reset-password")(reset_password_command)
    users_app.command("unlock")(unlock_command)


_register_password_commands()


@accounts_app.command("add")
def accounts_add(
    name: Annotated[str, typer.Argument(help="A short name, e.g. ro-main.")],
    platform: Annotated[PlatformCode, typer.Option(help="ro, bg or hu.")],
    account_type: Annotated[AccountType, typer.Option("--type", help="main or fbe.")],
    username: Annotated[str, typer.Option(help="eMAG API username.")],
    base_url: Annotated[
        str | None,
        typer.Option(help="Override the platform's API URL (a sandbox or the simulator)."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add an eMAG seller account. The password is stored encrypted and never shown again."""
    password = read_secret(
        from_stdin=password_stdin, env_var="MAGFLOW_ACCOUNT_PASSWORD", prompt="eMAG API password"
    )
    try:
        data = AccountCreate(
            name=name,
            platform=platform,
            account_type=account_type,
            username=username,
            password=password,
            base_url=base_url,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise fail(f"invalid account: {_first_error(exc)}") from exc

    async def add(ctx: AppContext) -> int:
        async with ctx.db.session() as session:
            account = await accounts_service.add_account(session, ctx.cipher, data)
            await session.commit()
            return account.id

    try:
        account_id = run_with_context(add)
    except accounts_service.AccountExistsError as exc:
        raise fail(str(exc)) from exc
    console.print(f"added account {name} (id {account_id}, {platform.value} {account_type.value})")


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


@accounts_app.command("list")
def accounts_list() -> None:
    """List eMAG accounts (passwords are never shown)."""

    async def fetch(ctx: AppContext) -> list[list[str]]:
        async with ctx.db.session() as session:
            return [
                [
                    str(a.id),
                    a.name,
                    a.platform,
                    a.account_type,
                    a.username,
                    a.base_url or "(platform default)",
                    "yes" if a.is_active else "no",
                ]
                for a in await accounts_service.list_accounts(session)
            ]

    table = Table("id", "name", "platform", "type", "username", "API URL", "active")
    for row in run_with_context(fetch):
        table.add_row(*row)
    console.print(table)


@accounts_app.command("remove")
def accounts_remove(name: Annotated[str, typer.Argument(help="Account name or id.")]) -> None:
    """Remove an account and everything synced for it."""

    async def remove(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            await accounts_service.remove_account(session, name)
            await session.commit()

    try:
        run_with_context(remove)
    except accounts_service.AccountNotFoundError as exc:
        raise fail(str(exc)) from exc
    console.print(f"removed account {name}")


def worker() -> None:
    """Run a procrastinate worker: executes sync jobs, resumes stalled runs, fires schedules.

    Needs MAGFLOW_JOBS=procrastinate and a PostgreSQL MAGFLOW_DATABASE_URL; start as many as you
    like, on as many machines as you like.
    """
    from magflow.common.runtime import tune_gc
    from magflow.jobs.durable import run_worker
    from magflow.settings import JobBackend
    from magflow.sync.wiring import build_engine

    settings = settings_or_exit()
    if settings.jobs is not JobBackend.procrastinate or settings.is_sqlite:
        raise fail("magflow worker needs MAGFLOW_JOBS=procrastinate and a PostgreSQL database")

    async def work(ctx: AppContext) -> None:
        tune_gc()
        await run_worker(ctx, build_engine(ctx))

    with contextlib.suppress(KeyboardInterrupt):
        run_with_context(work)


def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    offers: Annotated[int, typer.Option(help="Offers per simulated account.")] = 2000,
    orders: Annotated[int, typer.Option(help="Orders per simulated account.")] = 3000,
    reset_password: Annotated[
        bool,
        typer.Option("--reset-password", help="Give the demo admin a new password (printed)."),
    ] = False,
) -> None:
    """A working demo: the eMAG simulator, its accounts, a first sync, and the server.

    Refuses to start while another demo serves on the port or uses the same MAGFLOW_VAR_DIR;
    a later start reuses the database, accounts and admin (same password) of the earlier one.
    """
    import uvicorn

    from magflow import demo as demo_module
    from magflow.app import create_app

    settings = settings_or_exit()
    try:
        state = demo_module.claim(settings.var_dir, host, port)
    except demo_module.DemoAlreadyRunningError as exc:
        raise fail(str(exc)) from exc
    try:
        password = generate_password()

        async def admin(ctx: AppContext) -> bool:
            return await demo_module.ensure_admin(ctx, password, reset_password)

        new_password = run_with_context(admin)
        console.print("starting the eMAG simulator...")
        sim = demo_module.start_simulator(demo_module.DemoSizes(offers=offers, orders=orders))
        try:

            async def prepare(ctx: AppContext) -> bool:
                return await demo_module.prepare(
                    ctx, sim, console, public_url=demo_module.demo_url(host, port)
                )

            if not run_with_context(prepare):
                console.print("[yellow]the first sync did not complete; see above[/yellow]")
            console.rule("MagFlow demo")
            console.print(f"URL:       {demo_module.demo_url(host, port)}  (API docs at /docs)")
            console.print(f"login:     {demo_module.DEMO_ADMIN_EMAIL}", highlight=False)
            if new_password:
                console.print(f"password:  {password}  (new: shown only now)", highlight=False)
            else:
                console.print(
                    "password:  unchanged, the one printed when it was set "
                    "(magflow demo --reset-password sets a new one)",
                    highlight=False,
                )
            console.print(f"simulator: {sim.root_url}  (eMAG API at {sim.base_url})")
            console.rule()
            uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
        finally:
            sim.stop()
    finally:
        demo_module.release(state)
