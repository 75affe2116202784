"""``magflow accounts sender``: the AWB sender defaults from the command line."""

from __future__ import annotations

from magflow.accounts import service
from magflow.context import AppContext
from tests.factories import make_account
from tests.test_cli import run

__all__ = ["run"]


async def test_accounts_sender_sets_the_defaults(run, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    await make_account(ctx, name="ro-main")
    saved = run(
        *("accounts", "sender", "ro-main", "--name", "MagFlow SRL", "--contact", "Depozit"),
        *("--phone", "0040 722 000 111", "--locality-id", "8801", "--street", "Str. A 1"),
    )
    assert saved.returncode == 0, saved.stderr
    async with ctx.db.session() as session:
        account = await service.get_account(session, "ro-main")
    assert account.awb_sender == {
        "name": "MagFlow SRL",
        "contact": "Depozit",
        "phone1": "+40722000111",
        "locality_id": 8801,
        "street": "Str. A 1",
    }
