"""``magflow users reset-password EMAIL`` and ``magflow users unlock EMAIL``.

Registered on ``magflow users`` in ``magflow.cli_commands``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from magflow.auth import service as auth_service
from magflow.auth.throttle import RedisLoginThrottle
from magflow.cli import GeneratePasswordOption, PasswordStdinOption
from magflow.context import AppContext


def reset_password_command(
    email: Annotated[str, typer.Argument(help="The user's login email.")],
    password_stdin: PasswordStdinOption = False,
    generate: GeneratePasswordOption = False,
) -> None:
    """Set a user's password (prompted, from stdin, or generated); revokes their tokens."""
    from magflow.cli import console, fail, read_secret, run_with_context

    password = (
        None
        if generate
        else read_secret(from_stdin=password_stdin, env_var=None, prompt="New password")
    )

    async def reset(ctx: AppContext) -> str | None:
        async with ctx.db.session() as session:
            _, generated = await auth_service.reset_password(session, None, password, email=email)
            await session.commit()
            return generated

    try:
        generated = run_with_context(reset)
    except (ValueError, LookupError) as exc:
        raise fail(str(exc).strip("'\"")) from exc
    console.print(f"password of {auth_service.normalize_email(email)} changed; tokens revoked")
    if generated:
        console.print(f"password: {generated}", highlight=False)


def unlock_command(
    email: Annotated[str, typer.Argument(help="The user's login email.")],
) -> None:
    """End a login lockout: clear the user's failed-login counters (every client address)."""
    from magflow.cli import console, fail, run_with_context

    async def unlock(ctx: AppContext) -> int | None:
        if not isinstance(ctx.throttle, RedisLoginThrottle):
            return None
        async with ctx.db.session() as session:
            return await auth_service.unlock_user(session, ctx.throttle, None, email=email)

    try:
        cleared = run_with_context(unlock)
    except LookupError as exc:
        raise fail(str(exc).strip("'\"")) from exc
    if cleared is None:
        raise fail(
            "the login throttle lives in the server's memory (MAGFLOW_REDIS_URL is not set): "
            "unlock with POST /api/v1/users/{id}/unlock, or restart the server"
        )
    console.print(f"unlocked {auth_service.normalize_email(email)} ({cleared} counters cleared)")
