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
    from magflow.app import serve as serve_app

    serve_app(settings_or_exit(), host, port)


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
    platform: Annotated[
        PlatformCode, typer.Option(help="ro, bg, hu (eMAG) or fd_ro, fd_bg (FashionDays).")
    ],
    account_type: Annotated[AccountType, typer.Option("--type", help="main or fbe.")],
    username: Annotated[str, typer.Option(help="eMAG API username.")],
    base_url: Annotated[
        str | None,
        typer.Option(help="Override the platform's API URL (a sandbox or the simulator)."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    warehouse_id: Annotated[
        int, typer.Option(help="eMAG warehouse that stock is written to.", min=1)
    ] = 1,
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
            warehouse_id=warehouse_id,
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
                    str(a.warehouse_id),
                    "yes" if a.is_active else "no",
                ]
                for a in await accounts_service.list_accounts(session)
            ]

    table = Table("id", "name", "platform", "type", "username", "API URL", "warehouse", "active")
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


# -- AWB sender defaults ---------------------------------------------------------------------------


@accounts_app.command("sender")
def accounts_sender(
    name: Annotated[str, typer.Argument(help="Account name or id.")],
    sender_name: Annotated[str | None, typer.Option("--name", help="Company name.")] = None,
    contact: Annotated[str | None, typer.Option(help="Contact person.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone (8-11 digits, optional +).")] = None,
    phone2: Annotated[str | None, typer.Option(help="Second phone.")] = None,
    address_id: Annotated[
        str | None, typer.Option(help="eMAG saved address (GET /api/v1/accounts/NAME/addresses).")
    ] = None,
    locality_id: Annotated[int | None, typer.Option(help="eMAG locality id.")] = None,
    street: Annotated[str | None, typer.Option(help="Street and number.")] = None,
    zipcode: Annotated[str | None, typer.Option(help="Postal code.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the sender defaults.")] = False,
) -> None:
    """Set (or --clear) the account's AWB sender defaults: used by AWBs that give no sender."""
    from magflow.accounts.schemas import AccountUpdate

    fields = {
        "name": sender_name,
        "contact": contact,
        "phone1": phone,
        "phone2": phone2,
        "address_id": address_id,
        "locality_id": locality_id,
        "street": street,
        "zipcode": zipcode,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    try:
        data = AccountUpdate(awb_sender=None if clear else given)  # type: ignore[arg-type]
    except ValueError as exc:
        raise fail(f"invalid sender: {_first_error(exc)}") from exc

    async def save(ctx: AppContext) -> dict[str, object] | None:
        async with ctx.db.session() as session:
            account = await accounts_service.update_account(session, name, data)
            await session.commit()
            return account.awb_sender

    try:
        saved = run_with_context(save)
    except accounts_service.AccountNotFoundError as exc:
        raise fail(str(exc)) from exc
    console.print(f"AWB sender of {name}: {saved if saved is not None else 'removed'}")


# -- end AWB sender defaults -----------------------------------------------------------------------
# -- warehouse (issue 13, point 9) -----------------------------------------------------------------


@accounts_app.command("set-warehouse")
def accounts_set_warehouse(
    name: Annotated[str, typer.Argument(help="Account name or id.")],
    warehouse_id: Annotated[
        int, typer.Argument(help="eMAG warehouse id (1 by default).", min=1, max=2_147_483_647)
    ],
) -> None:
    """Write this account's stock to another eMAG warehouse (the light offer API's
    ``warehouse_id``)."""

    async def update(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            await accounts_service.set_warehouse(session, name, warehouse_id)
            await session.commit()

    try:
        run_with_context(update)
    except accounts_service.AccountNotFoundError as exc:
        raise fail(str(exc)) from exc
    console.print(f"account {name}: stock is written to warehouse {warehouse_id}")


# -- intake (magflow.intake): callback URLs and auto-acknowledge ---------------------------------


@accounts_app.command("callbacks")
def accounts_callbacks(
    name: Annotated[str, typer.Argument(help="Account name or id.")],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="New secret: the old URLs stop working.")
    ] = False,
) -> None:
    """Print the account's callback URLs, to paste in eMAG's seller UI (built from
    MAGFLOW_PUBLIC_URL)."""
    from magflow.intake import service as intake_service

    async def urls(ctx: AppContext) -> dict[str, str]:
        async with ctx.db.session() as session:
            account = await accounts_service.get_account(session, name)
            if rotate:
                secret = await intake_service.rotate_secret(session, ctx.cipher, account)
            else:
                secret = await intake_service.ensure_secret(session, ctx.cipher, account)
            found = intake_service.callback_urls(ctx.settings.public_url, secret)
            await session.commit()
            return found

    try:
        found = run_with_context(urls)
    except (accounts_service.AccountNotFoundError, intake_service.PublicUrlMissingError) as exc:
        raise fail(str(exc)) from exc
    if rotate:
        console.print("new secret: paste these URLs in eMAG (the old ones now answer 404)")
    for kind in intake_service.CallbackKind:
        typer.echo(f"{intake_service.KIND_LABELS[kind]}: {found[kind.value]}")


@accounts_app.command("set")
def accounts_set(
    name: Annotated[str, typer.Argument(help="Account name or id.")],
    auto_acknowledge: Annotated[
        bool | None,
        typer.Option(
            "--auto-acknowledge/--no-auto-acknowledge",
            help="Acknowledge new orders on eMAG as soon as they are stored.",
        ),
    ] = None,
    active: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Enable or disable the account.")
    ] = None,
) -> None:
    """Change an account's settings."""
    from magflow.accounts.schemas import AccountUpdate

    data = AccountUpdate(auto_acknowledge=auto_acknowledge, is_active=active)

    async def update(ctx: AppContext) -> tuple[bool, bool]:
        async with ctx.db.session() as session:
            account = await accounts_service.update_account(session, name, data)
            await session.commit()
            return account.auto_acknowledge, account.is_active

    try:
        ack, is_active = run_with_context(update)
    except accounts_service.AccountNotFoundError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"account {name}: auto_acknowledge {'on' if ack else 'off'}, "
        f"{'active' if is_active else 'disabled'}"
    )


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
    from magflow import demo as demo_module
    from magflow.app import serve as serve_app

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
            serve_app(settings, host, port)
        finally:
            sim.stop()
    finally:
        demo_module.release(state)
