"""The harness: determinism, default accounts, platforms, subprocess mode, async use, the CLI."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from magflow.emag_sim import FaultConfig, SimConfig, SimulatorServer
from magflow.emag_sim.bodies import parse_body
from magflow.emag_sim.cli import parse_account, parse_faults, simulator

from .conftest import ANCHOR, small_config


def snapshot(sim: SimulatorServer, username: str, password: str) -> dict[str, Any]:
    with httpx.Client(base_url=sim.base_url, auth=(username, password)) as client:
        return {
            "orders": client.post(
                "/order/read", json={"currentPage": 2, "itemsPerPage": 30}
            ).json(),
            "fbe": client.post("/order/read", json={"type": 2, "itemsPerPage": 20}).json(),
            "offers": client.post("/product_offer/read", json={"currentPage": 2}).json(),
            "count": client.post("/order/count", json={"status": [0, 4]}).json(),
        }


def test_same_seed_same_data_other_seed_other_data() -> None:
    with SimulatorServer(small_config(anchor=ANCHOR)) as a:
        first = snapshot(a, "u-fbe", "p-fbe")
    assert all(first[key]["results"] for key in first)
    with SimulatorServer(small_config(anchor=ANCHOR)) as b:
        assert snapshot(b, "u-fbe", "p-fbe") == first
    with SimulatorServer(small_config(anchor=ANCHOR, seed=8)) as c:
        other = snapshot(c, "u-fbe", "p-fbe")
    assert other["orders"] != first["orders"] and other["offers"] != first["offers"]


def test_default_accounts_customers_and_platform() -> None:
    cfg = SimConfig(seed=3, offers=50, orders=400, platform="bg", rate_limit=False)
    with SimulatorServer(cfg) as sim:
        accounts = httpx.get(f"{sim.root_url}/_sim/accounts").json()
        assert [(a["name"], a["account_type"]) for a in accounts] == [
            ("main", "main"),
            ("fbe", "fbe"),
        ]
        assert all(a["username"] and a["password"] for a in accounts)
        customers: dict[str, Counter[int]] = {}
        for acc in accounts:
            with httpx.Client(base_url=sim.base_url, auth=(acc["username"], acc["password"])) as c:
                ids: Counter[int] = Counter()
                for otype in (2, 3):
                    for page in (1, 2, 3, 4):
                        body = c.post(
                            "/order/read", json={"type": otype, "currentPage": page}
                        ).json()
                        for order in body["results"]:
                            assert order["currency"] == "EUR"  # the euro since 2026
                            ids[order["customer"]["id"]] += 1
                customers[acc["name"]] = ids
        assert max(customers["main"].values()) > 1  # repeat customers
        assert set(customers["main"]) & set(customers["fbe"])  # mixed channel
        assert {a["orders"] for a in accounts} == {400}
        vat = httpx.post(
            f"{sim.base_url}/vat/read", auth=(accounts[0]["username"], accounts[0]["password"])
        ).json()
        assert vat["results"][0]["vat_rate"] == 0.2


def test_every_account_has_both_order_types(sim: SimulatorServer) -> None:
    """The type is per order (docs/emag-protocol.md, "Orders"): MAIN mostly 3, FBE mostly 2."""
    main, fbe = sim.state.account("main"), sim.state.account("fbe")
    assert main is not None and fbe is not None
    on_main = Counter(main.otype)
    assert on_main[3] > on_main[2] > 0
    kinds = Counter(fbe.otype)
    assert kinds[2] > kinds[3] > 0


def test_subprocess_mode() -> None:
    with SimulatorServer(small_config(), subprocess=True) as sim:
        with pytest.raises(RuntimeError):
            _ = sim.state
        health = httpx.get(f"{sim.root_url}/_sim/health")
        assert health.json() == {"ok": True}
        body = httpx.post(
            f"{sim.base_url}/order/count", json={"type": [2, 3]}, auth=("u-main", "p-main")
        )
        assert int(body.json()["results"]["noOfItems"]) == 600
        created = httpx.post(
            f"{sim.root_url}/_sim/accounts/main/orders/new", json={"count": 2}
        ).json()["created"]
        assert len(created) == 2


def test_subprocess_mode_in_a_session_of_its_own_only_when_asked() -> None:
    """Asked (a benchmark), the simulator leads a session of its own; by default it stays in
    the caller's, so that closing the caller's terminal closes it too."""
    with SimulatorServer(small_config(), subprocess=True) as sim:
        assert os.getsid(sim.pid) == os.getsid(0)
    with SimulatorServer(small_config(), subprocess=True, own_session=True) as sim:
        assert os.getsid(sim.pid) == sim.pid != os.getsid(0)


async def test_usable_inside_async_tests() -> None:
    with SimulatorServer(small_config()) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url, auth=("u-main", "p-main")) as c:
            response = await c.post("/order/count", json={})
            assert response.json()["isError"] is False


def test_config_round_trip_and_fault_spec() -> None:
    cfg = small_config(anchor=ANCHOR, faults=FaultConfig.parse("429=0.1,timeout=0.02,seed=4"))
    again = SimConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.faults.rate_429 == 0.1 and again.faults.timeout == 0.02
    with pytest.raises(ValueError):
        FaultConfig.parse("429=0.7,500=0.6")
    with pytest.raises(ValueError):
        FaultConfig.parse("explode=0.1")
    # edit (an eMAG-side edit after a read) is no failure: not counted in the total
    assert FaultConfig.parse("429=0.9,edit=1").edit_after_read == 1.0
    with pytest.raises(ValueError):
        FaultConfig.parse("edit=1.5")
    with pytest.raises(ValueError):
        small_config(main_fbe_ratio=2)


def test_php_bracket_form_parsing() -> None:
    payload, n_vars = parse_body(
        b"data[0][id]=1&data[0][stock][0][warehouse_id]=1&data[0][stock][0][value]=5&data[1][id]=2",
        "application/x-www-form-urlencoded",
    )
    assert payload == [{"id": "1", "stock": [{"warehouse_id": "1", "value": "5"}]}, {"id": "2"}]
    assert n_vars == 4
    payload, _ = parse_body(b"", "", "eans[]=1&eans[]=2")
    assert payload == {"eans": ["1", "2"]}


def test_cli_rejects_bad_values() -> None:
    with pytest.raises(typer.BadParameter):
        parse_account("main:shop:u:p")
    with pytest.raises(typer.BadParameter):
        parse_account("main:main:u")
    assert parse_account("m:fbe:user:pa:ss").password == "pa:ss"
    with pytest.raises(typer.BadParameter):
        parse_faults("429=lots")
    app = typer.Typer()
    app.command("simulator")(simulator)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    result = runner.invoke(app, ["simulator", "--account", "nope"])
    assert result.exit_code == 2
    assert "NAME:main|fbe:USERNAME:PASSWORD" in result.output
    result = runner.invoke(app, ["simulator", "--faults", "500=2"])
    assert result.exit_code == 2
