"""The CLI, run as a real process against both databases."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from magflow.accounts.models import EmagAccount
from magflow.auth.models import User
from magflow.auth.passwords import verify_password
from magflow.context import AppContext
from magflow.settings import Settings


@pytest.fixture
def run(settings: Settings):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "COLUMNS": "200",
    }
    env.pop("MAGFLOW_ACCOUNT_PASSWORD", None)

    def _run(*args: str, stdin: str = "", extra_env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return subprocess.run(
            [sys.executable, "-m", "magflow", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**env, **(extra_env or {})},
            timeout=60,
        )

    return _run


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--version")
    assert result.returncode == 0
    assert "magflow 0.1.0" in result.stdout


#: Runs the CLI in a fresh interpreter, then reports which heavy packages it imported.
LIGHT_START = """
import sys
from magflow.cli import app
code = 0
try:
    app(sys.argv[1:], prog_name="magflow")
except SystemExit as exc:
    code = exc.code or 0
heavy = [m for m in ("fastapi", "sqlalchemy", "alembic", "pydantic_settings", "httpx")
         if m in sys.modules]
print("heavy:", ",".join(heavy) or "none")
sys.exit(code)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], []])
def test_version_and_help_do_not_import_the_application(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_START, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "heavy: none" in result.stdout, result.stdout + result.stderr
    if args == ["--version"]:
        assert result.returncode == 0 and "magflow 0.1.0" in result.stdout
    else:
        # Every command is listed with its help line, without being imported.
        for command in ("serve", "db", "users", "accounts", "sync", "export", "demo"):
            assert command in result.stdout
        assert "Sync offers or orders" in result.stdout


def test_migrations_are_quiet_unless_verbose(run) -> None:  # type: ignore[no-untyped-def]
    quiet = run("db", "upgrade")
    assert quiet.returncode == 0, quiet.stderr
    assert "alembic" not in quiet.stderr and "latest revision" in quiet.stdout
    verbose = run("--verbose", "db", "upgrade")
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO alembic" in verbose.stderr


async def test_users_create_from_stdin_and_generated(run, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "users",
        "create",
        "--email",
        "A@Example.com",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a-long-enough-password\n",
    )
    assert result.returncode == 0, result.stderr
    generated = run("users", "create", "--email", "v@example.com", "--generate-password")
    assert generated.returncode == 0, generated.stderr
    password = generated.stdout.split("password:")[1].strip()
    async with ctx.db.session() as session:
        users = {u.email: u for u in (await session.execute(select(User))).scalars()}
    assert users["a@example.com"].role == "admin"
    assert verify_password(users["a@example.com"].password_hash, "a-long-enough-password")
    assert users["v@example.com"].role == "viewer"
    assert verify_password(users["v@example.com"].password_hash, password)

    duplicate = run("users", "create", "--email", "a@example.com", "--generate-password")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    short = run("users", "create", "--email", "s@example.com", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10" in short.stderr
    no_password = run("users", "create", "--email", "n@example.com")
    assert no_password.returncode == 1 and "--password-stdin" in no_password.stderr
    bad_role = run("users", "create", "--email", "b@example.com", "--role", "boss")
    assert bad_role.returncode == 2


async def test_accounts_add_list_remove(run, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    secret = "the-sellers-emag-password"
    added = run(
        "accounts",
        "add",
        "ro-main",
        "--platform",
        "ro",
        "--type",
        "main",
        "--username",
        "seller",
        "--base-url",
        "http://127.0.0.1:8900/api-3",
        extra_env={"MAGFLOW_ACCOUNT_PASSWORD": secret},
    )
    assert added.returncode == 0, added.stderr
    added_stdin = run(
        "accounts",
        "add",
        "hu-fbe",
        "--platform",
        "hu",
        "--type",
        "fbe",
        "--username",
        "seller-hu",
        "--warehouse-id",
        "4",
        "--password-stdin",
        stdin=secret + "\n",
    )
    assert added_stdin.returncode == 0, added_stdin.stderr
    moved = run("accounts", "set-warehouse", "ro-main", "2")
    assert moved.returncode == 0, moved.stderr
    listed = run("accounts", "list")
    assert listed.returncode == 0
    assert "ro-main" in listed.stdout and "hu-fbe" in listed.stdout
    assert "http://127.0.0.1:8900/api-3" in listed.stdout
    for output in (added, added_stdin, listed):
        assert secret not in output.stdout + output.stderr

    async with ctx.db.session() as session:
        rows = (await session.execute(select(EmagAccount))).scalars().all()
    assert {(a.name, a.platform, a.account_type, a.warehouse_id) for a in rows} == {
        ("ro-main", "ro", "main", 2),
        ("hu-fbe", "hu", "fbe", 4),
    }
    assert all(secret.encode() not in a.password_encrypted for a in rows)

    duplicate = run(
        "accounts",
        "add",
        "ro-main",
        "--platform",
        "ro",
        "--type",
        "main",
        "--username",
        "x",
        "--password-stdin",
        stdin="pw\n",
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    bad_platform = run(
        "accounts",
        "add",
        "pl",
        "--platform",
        "pl",
        "--type",
        "main",
        "--username",
        "x",
        "--password-stdin",
        stdin="pw\n",
    )
    assert bad_platform.returncode == 2
    bad_url = run(
        "accounts",
        "add",
        "x",
        "--platform",
        "ro",
        "--type",
        "main",
        "--username",
        "x",
        "--base-url",
        "not a url",
        "--password-stdin",
        stdin="pw\n",
    )
    assert bad_url.returncode == 1 and "base_url" in bad_url.stderr

    assert run("accounts", "remove", "ro-main").returncode == 0
    missing = run("accounts", "remove", "ro-main")
    assert missing.returncode == 1 and "no eMAG account" in missing.stderr


def _demo_env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGFLOW_")}
    env.update(
        MAGFLOW_VAR_DIR=str(var),
        MAGFLOW_DATABASE_URL=f"sqlite:///{var}/magflow.db",
        MAGFLOW_SCHEDULES_ENABLED="false",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    return env


def _demo_args(port: int) -> list[str]:
    sizes = ["--offers", "20", "--orders", "30"]
    return [sys.executable, "-m", "magflow", "demo", "--port", str(port), *sizes]


def _start_demo(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            _demo_args(port), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_serving(proc: subprocess.Popen[bytes], port: int, log: Path) -> str:
    """The demo's output once its server answers."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the demo exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return log.read_text()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the demo did not serve:\n{log.read_text()}")


def _stop_demo(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _login(port: int, password: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        data={"username": "admin@magflow.local", "password": password},
        timeout=10,
    )


@pytest.mark.slow
def test_demo_refuses_a_second_start_and_a_later_one_reuses_what_it_made(
    tmp_path: Path,
) -> None:
    """A second ``make demo`` used to reset the first one's admin, revoke its tokens and point
    its accounts at a simulator that then died."""
    from tests.support.servers import free_port

    var = tmp_path / "var"
    env = _demo_env(var)
    port, other_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}/"

    first = _start_demo(port, env, tmp_path / "first.log")
    try:
        output = _wait_serving(first, port, tmp_path / "first.log")
        found = re.search(r"password:\s+(\S+)\s+\(new", output)
        assert found, output
        password = found.group(1)
        simulator = re.search(r"simulator: (http://\S+)", output)
        assert simulator, output
        login = _login(port, password)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        for attempt_port in (port, other_port):  # same port, or same var dir on another port
            second = subprocess.run(
                _demo_args(attempt_port), env=env, capture_output=True, text=True, timeout=60
            )
            assert second.returncode == 1, second.stdout + second.stderr
            assert url in second.stderr and "already" in second.stderr
            assert "starting the eMAG simulator" not in second.stdout

        # The running demo is untouched: its token works, its accounts use its simulator.
        accounts = httpx.get(f"{url}api/v1/accounts", headers=headers, timeout=10)
        assert accounts.status_code == 200, accounts.text
        assert {a["base_url"] for a in accounts.json()} == {f"{simulator.group(1)}/api-3"}
        assert _login(port, password).status_code == 200
    finally:
        _stop_demo(first)

    again = _start_demo(port, env, tmp_path / "again.log")
    try:
        output = _wait_serving(again, port, tmp_path / "again.log")
        assert "unchanged" in output and "(new" not in output, output
        assert "reusing the data of an earlier start" in output, output
        assert _login(port, password).status_code == 200
    finally:
        _stop_demo(again)
    assert not (var / "demo.json").exists()
