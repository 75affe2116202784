"""The simulator's bad ``count`` answers (a count of 0, one that is not a number, none at all):
drawn for ``{resource}/count`` routes only (docs/emag-protocol.md, "Paging, counts and
filters")."""

from __future__ import annotations

import pytest

from magflow.emag.schemas import CountResult
from magflow.emag_sim.config import FaultConfig
from magflow.emag_sim.faults import COUNT_RESULTS, FaultInjector


@pytest.mark.parametrize("fault", ["count_zero", "count_unparseable", "count_missing"])
def test_count_faults_hit_count_routes_only(fault: str) -> None:
    faults = FaultInjector(FaultConfig.parse(f"{fault}=1"), default_seed=1)
    assert faults.draw("product_offer/read") is None
    assert faults.draw("order/read") is None
    assert faults.draw("product_offer/count") == fault
    assert faults.draw("order/count") == fault
    assert faults.counts == {fault: 2}


def test_count_fault_answers_read_as_zero_or_unknown() -> None:
    """What MagFlow's client reads from each: 0 items, or no number at all."""
    assert CountResult.model_validate(COUNT_RESULTS["count_zero"]).no_of_items == 0
    unparseable = CountResult.model_validate(COUNT_RESULTS["count_unparseable"])
    assert (unparseable.no_of_items, unparseable.pages(100)) == (None, None)
    assert CountResult.model_validate({}).pages(100) is None  # count_missing: results []
    assert COUNT_RESULTS["count_missing"] == []
