"""The to-do list's invoice query can use its partial index on both databases: its WHERE must
imply the index's predicate (``status = 4 AND has_invoice = false``), which a harmless-looking
rewrite (``IS false``, ``NOT has_invoice``) can break. Checked with the planner told to avoid
table scans, so the answer does not depend on how many rows the test holds."""

from __future__ import annotations

from sqlalchemy import text

from magflow.context import AppContext
from magflow.intake.todo import invoice_missing_select


async def test_the_invoice_query_uses_the_partial_index(ctx: AppContext) -> None:
    query = invoice_missing_select(1, 50)
    async with ctx.db.session() as session:
        dialect = session.bind.dialect
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "postgresql":
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in await session.execute(text("EXPLAIN " + sql)))
        else:
            rows = await session.execute(text("EXPLAIN QUERY PLAN " + sql))
            plan = "\n".join(str(r[-1]) for r in rows)
    assert "ix_emag_orders_invoice_missing" in plan, plan
