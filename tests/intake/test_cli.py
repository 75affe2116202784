"""``magflow accounts callbacks NAME`` (one command run: each costs seconds of start-up)."""

from __future__ import annotations

import os
import subprocess
import sys

from magflow.context import AppContext
from magflow.intake import service as intake_service
from magflow.settings import Settings
from tests.factories import make_account


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_PUBLIC_URL": "https://magflow.example.com",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "magflow", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_the_callback_urls_from_the_command_line_are_the_accounts(
    settings: Settings, ctx: AppContext
) -> None:
    account = await make_account(ctx, name="shop")
    shown = _run(settings, "accounts", "callbacks", "shop")
    assert shown.returncode == 0, shown.stderr
    prefix = "New order: https://magflow.example.com/callbacks/emag/"
    line = next(line for line in shown.stdout.splitlines() if line.startswith(prefix))
    secret = line.removeprefix(prefix).removesuffix("/order")
    async with ctx.db.session() as session:
        found = await intake_service.account_for_secret(session, secret)
    assert found is not None and found.id == account.id
