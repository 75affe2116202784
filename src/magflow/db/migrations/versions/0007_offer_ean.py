"""Offers searchable by EAN: ``emag_products_v2.ean_search``, indexed, filled from the payloads.

An offer's EANs are a JSON list (``ean``, from the payload's ``ean``, docs/emag-protocol.md,
"Offers"), which neither database can search portably or through an index. ``ean_search`` holds
them as one space-separated string (``5941234567890 5941234567906``): an offer with one EAN is
found by an index lookup, several by a substring match. The offer sync keeps it up to date
(``catalog.repository.upsert_offers``); this migration fills it for the offers already stored,
from the stored raw payloads (the ``ean`` column where the payload has none).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
EAN_SEARCH_LENGTH = 512

_json = sa.JSON().with_variant(JSONB(), "postgresql")
offers = sa.table(
    "emag_products_v2",
    sa.column("id", sa.Integer),
    sa.column("ean", _json),
    sa.column("raw", _json),
    sa.column("ean_search", sa.String),
)


def ean_search_text(eans: Any) -> str | None:
    """The same reading as ``magflow.catalog.repository.ean_search_text`` (kept here so that the
    migration does not change when the application does)."""
    if eans is None:
        return None
    values = eans if isinstance(eans, list) else [eans]
    found: list[str] = []
    for value in values:
        text = "".join(str(value).split())
        if text and text not in found and len(" ".join([*found, text])) <= EAN_SEARCH_LENGTH:
            found.append(text)
    return " ".join(found) or None


def upgrade() -> None:
    op.add_column("emag_products_v2", sa.Column("ean_search", sa.String(EAN_SEARCH_LENGTH)))
    op.create_index("ix_emag_products_v2_ean_search", "emag_products_v2", ["ean_search"])
    bind = op.get_bind()
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(offers.c.id, offers.c.raw, offers.c.ean)
            .where(offers.c.id > last_id)
            .order_by(offers.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        updates = []
        for row in rows:
            raw = row.raw if isinstance(row.raw, dict) else {}
            text = ean_search_text(raw.get("ean") if raw.get("ean") else row.ean)
            if text is not None:
                updates.append({"offer_id": row.id, "text": text})
        if updates:
            bind.execute(
                offers.update()
                .where(offers.c.id == sa.bindparam("offer_id"))
                .values(ean_search=sa.bindparam("text")),
                updates,
            )


def downgrade() -> None:
    op.drop_index("ix_emag_products_v2_ean_search", table_name="emag_products_v2")
    op.drop_column("emag_products_v2", "ean_search")
