"""One seeded app under uvicorn per backend for all the drills, and the database snapshot.

The drills send a few thousand requests that must all be refused, so they share one server and
one database per backend (``[sqlite]`` always; ``[postgresql]`` when ``MAGFLOW_TEST_DATABASE_URL``
is set, in a database of its own, with Redis when ``MAGFLOW_TEST_REDIS_URL`` is). After every
test the database must still equal the snapshot taken after seeding: the row count and a
checksum of the contents of every table. No table is excluded, because nothing the drills send
may write anything: tokens are issued directly rather than by logging in (so
``users.last_login_at`` stays put), failed logins are counted by the login throttle in memory or
Redis (not in the database), and the audit log only records requests that reach eMAG, which no
drill does (the seeded accounts point at a closed port anyway).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from redis import Redis as SyncRedis
from sqlalchemy import Engine, MetaData, Table, create_engine, select
from sqlalchemy.engine import make_url

from magflow.accounts.models import AccountType
from magflow.auth.models import Role, User
from magflow.auth.passwords import hash_password
from magflow.bulk.models import BulkOperation, BulkOperationItem
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.customers.models import EmagCustomer, EmagCustomerAccount
from magflow.db.migrate import upgrade
from magflow.db.models import Base
from magflow.orders.models import EmagOrder
from magflow.settings import Settings, normalize_database_url
from magflow.sync.models import SyncLog
from magflow.web.routes import ACCESS_COOKIE, CSRF_HEADER
from tests.conftest import PG_URL, REDIS_URL
from tests.factories import DEFAULT_PASSWORD, make_account
from tests.support.servers import UvicornThread

#: Text that every search must take literally: LIKE wildcards, quotes, SQL comment and statement
#: separators, the escape character, emoji, Arabic, a right-to-left override. Lower case only:
#: SQLite's lower() folds ASCII letters alone.
SPECIAL_NAMES = [
    "50% off widget",
    "under_score gadget",
    "back\\slash tool",
    "o'reilly guide",
    'say "hi" sign',
    "semi;colon; drop table users",
    "dash--dash -- comment",
    "rocket 🚀 lamp",
    "مرحبا بالعالم",
    "\u202ereversed text",
    "plain widget",
    "percent%_underscore",
]
#: The eMAG base URL of the seeded accounts: a closed port, so nothing ever reaches eMAG.
UNREACHABLE = "http://127.0.0.1:9"


@dataclass
class Seed:
    """What the drills may refer to: users, tokens, and one row of each kind."""

    users: dict[str, int]
    tokens: dict[str, str]
    account_ids: dict[str, int]
    offer_id: int
    order_id: int
    customer_id: int
    run_id: int
    operation_id: int
    offers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)

    def path_values(self) -> dict[str, Any]:
        """A value for each path parameter of the route table, naming a seeded row."""
        return {
            "user_id": self.users["viewer"],
            "name": "main",
            "kind": "offers",
            "run_id": self.run_id,
            "offer_id": self.offer_id,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "operation_id": self.operation_id,
            "rule_id": 1,  # no such pricing rule: a 404 where the request is valid
        }


@dataclass
class Stack:
    settings: Settings
    url: str
    seed: Seed
    engine: Engine
    http: httpx.Client

    def auth(self, role: str | None = "admin", token: str | None = None) -> dict[str, str]:
        """Headers signing in as ``role`` (or with ``token``) to the API (bearer token) and to
        the dashboard (its cookie, and the CSRF header its writes need)."""
        token = token or (self.seed.tokens[role] if role else None)
        headers = {CSRF_HEADER: "1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
            headers["Cookie"] = f"{ACCESS_COOKIE}={token}"
        return headers

    def snapshot(self) -> dict[str, tuple[int, str]]:
        return snapshot(self.engine)

    def ws_url(self, path: str) -> str:
        return self.url.replace("http://", "ws://") + path


@functools.cache
def _tables(engine: Engine) -> list[Table]:
    """Every table in the database (the app's, Alembic's, and any other), as it is there."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(metadata.tables)
    return list(metadata.sorted_tables)


def snapshot(engine: Engine) -> dict[str, tuple[int, str]]:
    """Every table: (row count, SHA-256 of its rows in primary-key order)."""
    with engine.connect() as conn:
        found = {}
        for table in _tables(engine):
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(select(table).order_by(*order)).all()
            digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
            found[table.name] = (len(rows), digest)
        return found


def diff(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    return [
        f"{name}: {before[name][0]} rows -> {after[name][0]} rows"
        + (" (contents changed)" if before[name][0] == after[name][0] else "")
        for name in before
        if before[name] != after[name]
    ]


_ids = itertools.count(7_000_001)


@functools.cache
def _password_hash() -> str:
    return hash_password(DEFAULT_PASSWORD)


async def _seed(settings: Settings) -> Seed:
    ctx = AppContext.build(settings)
    try:
        users = {}
        async with ctx.db.session() as session:
            for role in Role:  # inserted with one hash: argon2 takes a while, by design
                users[role.value] = User(
                    email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
                    password_hash=_password_hash(),
                    role=role.value,
                )
                session.add(users[role.value])
            await session.commit()
        tokens = {
            role: ctx.tokens.issue(user.id, "access", user.token_version)
            for role, user in users.items()
        }
        main = await make_account(ctx, name="main", base_url=UNREACHABLE)
        fbe = await make_account(
            ctx, name="fbe", account_type=AccountType.fbe, base_url=UNREACHABLE
        )
        now = datetime.now(UTC)
        offers, orders, customers = [], [], []
        async with ctx.db.session() as session:
            for index, name in enumerate(SPECIAL_NAMES):
                offer = EmagOffer(
                    account_id=main.id,
                    emag_id=next(_ids),
                    name=name,
                    part_number=f"pn-{index}",
                    part_number_key=f"pnk{index}",
                    currency="RON",
                    sale_price=Decimal("10.00") + index,
                    stock_total=index,
                    status=1,
                    raw={},
                    last_seen_at=now,
                )
                order = EmagOrder(
                    account_id=main.id,
                    emag_id=next(_ids),
                    status=1,
                    order_date=now - timedelta(days=index),
                    currency="RON",
                    total_with_vat=Decimal("20.00") + index,
                    customer_key=f"ro:c{index}",
                    customer_name=name,
                    raw={},
                    last_seen_at=now,
                )
                customer = EmagCustomer(
                    customer_key=f"ro:c{index}",
                    platform="ro",
                    emag_customer_id=next(_ids),
                    name=name,
                    email_hash=f"h{index:04d}",
                    phone=f"07{index:02d}",
                    currency="RON",
                    orders_count=1,
                    total_spent=Decimal("20.00") + index,
                    main_orders=1,
                    first_order_at=now - timedelta(days=index),
                    last_order_at=now - timedelta(days=index),
                )
                session.add_all([offer, order, customer])
                offers.append({"name": name, "part_number": f"pn-{index}", "key": f"pnk{index}"})
                orders.append({"customer_name": name})
                customers.append({"name": name})
            await session.flush()
            session.add(
                EmagCustomerAccount(
                    customer_id=customer.id,
                    account_id=main.id,
                    orders_count=1,
                    total_spent=customer.total_spent,
                )
            )
            run = SyncLog(
                account_id=main.id,
                kind="offers",
                mode="full",
                status="completed",
                trigger="test",
                params={},
                errors=[],
                started_at=now - timedelta(minutes=5),
                finished_at=now - timedelta(minutes=4),
            )
            operation = BulkOperation(
                kind="offers",
                status="completed",
                source="json",
                request_hash="hardening",
                total_items=1,
                succeeded_items=1,
            )
            session.add_all([run, operation])
            await session.flush()
            session.add(
                BulkOperationItem(
                    operation_id=operation.id,
                    position=0,
                    account_id=main.id,
                    account_ref="main",
                    offer_emag_id=offer.emag_id,
                    offer_id=offer.id,
                    changes={"stock": 3},
                    status="succeeded",
                )
            )
            await session.commit()
            seed = Seed(
                users={role: user.id for role, user in users.items()},
                tokens=tokens,
                account_ids={"main": main.id, "fbe": fbe.id},
                offer_id=offer.id,
                order_id=order.id,
                customer_id=customer.id,
                run_id=run.id,
                operation_id=operation.id,
                offers=offers,
                orders=orders,
                customers=customers,
            )
        return seed
    finally:
        await ctx.close()


@contextmanager
def own_pg_database() -> Iterator[str]:
    """A PostgreSQL database for the drills alone (the other tests truncate theirs)."""
    assert PG_URL is not None
    admin_url = make_url(normalize_database_url(PG_URL))
    name = f"{admin_url.database}_hardening_{os.getpid()}_{secrets.token_hex(3)}"
    conninfo = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The app under uvicorn on a seeded database of its own, shared by every drill module."""
    with ExitStack() as resources:
        folder = tmp_path_factory.mktemp("hardening")
        redis_url = None
        if request.param == "sqlite":
            path = folder / "magflow.db"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            database_url = f"sqlite+aiosqlite:///{path}"
            sync_url = f"sqlite:///{path}"
        else:
            if PG_URL is None:
                pytest.skip("PostgreSQL not configured: set MAGFLOW_TEST_DATABASE_URL")
            database_url = resources.enter_context(own_pg_database())
            sync_url = database_url  # postgresql+psycopg: psycopg 3 drives sync engines too
            redis_url = REDIS_URL
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=folder / "var",
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=f"magflow-test-{uuid.uuid4().hex[:12]}",
            secret_key=secrets.token_urlsafe(32),
            migrate_on_start=False,
            schedules_enabled=False,
            emag_timeout_seconds=2.0,
            ws_auth_timeout_seconds=2.0,
        )
        seed = asyncio.run(_seed(settings))
        from magflow.app import create_app

        engine = create_engine(sync_url)
        resources.callback(engine.dispose)
        if redis_url:
            resources.callback(_clear_redis, redis_url, settings.redis_prefix)
        server = resources.enter_context(UvicornThread(create_app(settings)))
        # One client for all: creating an httpx.Client costs tens of milliseconds.
        http = resources.enter_context(httpx.Client(base_url=server.url, timeout=30))
        yield Stack(settings, server.url, seed, engine, http)


def _clear_redis(url: str, prefix: str) -> None:
    with SyncRedis.from_url(url) as client:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(scope="session")
def baseline(stack: Stack) -> dict[str, tuple[int, str]]:
    return stack.snapshot()


@pytest.fixture(autouse=True)
def database_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each drill (each test using ``stack``), the database equals the baseline."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack: Stack = request.getfixturevalue("stack")
    before = request.getfixturevalue("baseline")
    yield
    changed = diff(before, stack.snapshot())
    assert not changed, f"the drill changed the database: {changed}"
