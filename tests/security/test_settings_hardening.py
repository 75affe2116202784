"""Weak or example secret keys are refused at settings load; the SQLite database, the generated
secret key and ``var/`` are created readable by their owner only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from magflow.context import AppContext
from magflow.db.migrate import upgrade
from magflow.settings import Settings


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what most systems use: files 0644, directories 0755
    yield
    os.umask(previous)


@pytest.mark.parametrize(
    "key",
    ["short-key", "x" * 31, "CHANGE-ME-the-same-long-random-string-everywhere"],
    ids=["short", "31-bytes", "deploy-example"],
)
def test_weak_or_example_secret_keys_are_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="MAGFLOW_SECRET_KEY"):
        Settings(_env_file=None, secret_key=key)  # type: ignore[call-arg]


def test_the_cli_names_the_problem(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MAGFLOW_SECRET_KEY": "CHANGE-ME-the-same-long-random-string-everywhere",
        "MAGFLOW_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "magflow", "users", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    assert "example value from deploy/" in result.stdout + result.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_sqlite_file_secret_key_and_var_dir_are_private(
    tmp_path: Path, loose_umask: None
) -> None:
    var = tmp_path / "deep" / "var"
    settings = Settings(_env_file=None, var_dir=var, migrate_on_start=False)  # type: ignore[call-arg]
    upgrade(settings.async_database_url)
    ctx = AppContext.build(settings)  # generates the secret key
    try:
        async with ctx.db.session() as session:
            await session.connection()
    finally:
        await ctx.close()
    assert _mode(var) == 0o700
    assert _mode(var / "magflow.db") == 0o600
    assert _mode(var / "secret_key") == 0o600
    # A database file made world-readable by an older version is tightened.
    (var / "magflow.db").chmod(0o644)
    upgrade(settings.async_database_url)
    assert _mode(var / "magflow.db") == 0o600
