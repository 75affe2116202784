"""The eMAG marketplace simulator: an ASGI app that speaks the eMAG Marketplace API (see
``docs/emag-protocol.md``) over seeded, deterministic data, with eMAG's rate limits and fault
injection.

Usage::

    from magflow.emag_sim import SimConfig, SimAccount, FaultConfig, SimulatorServer
    cfg = SimConfig(seed=1, offers=200, orders=500, platform="ro",
                    accounts=[SimAccount(name="main", account_type="main",
                                         username="u", password="p")],
                    faults=FaultConfig(), rate_limit=True)
    with SimulatorServer(cfg) as sim:           # uvicorn on 127.0.0.1:<free port>, own thread
        sim.base_url, sim.root_url, sim.state
    SimulatorServer(cfg, subprocess=True)       # own process (benchmarks); no .state

or ``magflow simulator --port 8900`` (:func:`magflow.emag_sim.cli.simulator`), or
``create_app(cfg)`` for any ASGI server.

eMAG API (``{root}/api-3/{resource}/{action}``, HTTP Basic auth)
-------------------------------------------------------------------
``product_offer/read|count|save``, ``offer/save``, ``PATCH offer_stock/{id}``,
``measurements/save``, ``GET documentation/find_by_eans``, ``category/read|count``,
``vat/read``, ``handling_time/read``, ``courier_accounts/read``, ``locality/read|count``,
``rma/read|count``, ``awb/save|read``, ``order/read|count|save``, ``order/acknowledge/{id}``,
``order/attachments/save``, ``order/{id}/unlock-courier``, ``addresses/read``; and, at the root
as eMAG documents them (no ``/api-3``), ``GET awb/read_pdf`` and ``GET awb/read_zpl``. The
rules and the tolerant readings of what docs/emag-protocol.md leaves UNCERTAIN are in
:mod:`.api` (actions), :mod:`.bodies` (body forms, input vars), :mod:`.ratelimit` (limits,
429), :mod:`.faults` and :mod:`.state` (data).

Data: per account ``offers`` offers (ids 1..N) and ``orders`` orders (ids
``300_000_000 + 10_000_000 * account_index + i``, created over the last ``history_days`` days,
ascending with the id). Every account holds both order types: MAIN accounts mostly type 3 and
``main_fbe_ratio`` of type 2, FBE accounts mostly type 2 and ``fbe_seller_ratio`` of type 3.
Customers come from one pool shared by all accounts. Currency and time zone follow the platform
(RON/Europe/Bucharest, EUR/Europe/Sofia, HUF/Europe/Budapest).

Control API (``{root}/_sim``, not part of eMAG, no auth, JSON in and out)
----------------------------------------------------------------------------
- ``GET /_sim/health`` → ``{"ok": true}``
- ``GET /_sim/config`` → the configuration, generated credentials included
- ``GET /_sim/accounts`` → ``[{name, account_type, username, password, offers, orders,
  order_id_range}]``
- ``GET /_sim/stats`` → ``{total, requests: {route: {status: n}}, rate_limited, by_account,
  faults: {kind: n}, rate_limit_enabled}``; ``DELETE /_sim/stats`` zeroes the counters and the
  rate-limit windows. Route ``<invalid>`` counts unknown URLs.
- ``GET /_sim/faults`` → the fault settings; ``POST /_sim/faults`` with any
  :class:`FaultConfig` fields (aliases ``"429"``, ``"500"``, ``"502"``, ``"504"``,
  ``"timeout"``, ``"malformed"``, ``"is_error"``, ``"slow"``; ``"count_zero"``,
  ``"count_unparseable"``, ``"count_missing"`` for bad ``{resource}/count`` answers) updates
  them and restarts the fault RNG from ``seed``; ``{"replace": true, ...}`` starts from no faults.
  Example: ``{"429": 0.1, "timeout": 0.02, "timeout_seconds": 5, "seed": 3}``.
- ``GET|POST /_sim/rate_limit`` ``{"enabled": false}`` switches eMAG's limits off/on.
- ``POST /_sim/reset`` → the initial state again (same seed, same anchor time), faults and
  rate-limit switch from the config, zeroed stats.
- ``POST /_sim/accounts/{username|name}/orders/new`` ``{"count": N, "type": 2|3?}`` →
  ``{"created": [ids]}``: N new orders in status 1, created and modified now (ids continue the
  sequence); without ``type``, an FBE account's mix, type 3 on a MAIN account.
- ``POST /_sim/accounts/{username|name}/orders/modify`` ``{"count": N}`` →
  ``{"modified": [{id, from, to, type}]}``: N recent orders change status legally (1→0, 2→3,
  3→4, 4→5; 0 and 5 are only touched), ``modified`` = now.
- ``GET /_sim/accounts/{account}/orders/{id}`` and ``.../offers/{id}``: a document as stored,
  whatever its type (for assertions in subprocess mode).
- ``POST /_sim/accounts/{account}/orders/{id}/edit`` ``{"status"?, "customer"?: {...}, any
  field...}`` → the order: an eMAG-side edit (a customer's change, a status set in eMAG's UI)
  outside the API's rules, e.g. between a client's read and its save; ``customer`` keys are
  merged, ``modified`` becomes now. The ``edit_after_read`` fault (``{"edit": P}``) does the same
  on its own right after an ``order/read`` (see :class:`FaultConfig`).
- ``POST /_sim/accounts/{account}/returns/{rma_id}/status`` ``{"request_status": N}`` → the
  return: a status change within eMAG's RMA matrix (400 otherwise); fires the ``return``
  callback.
- ``POST /_sim/accounts/{account}/offers/{id}/approve-documentation`` → the offer: eMAG approves
  its documentation (validation status 9; 400 unless it awaited a review: 1, 2, 3, 4 or 11);
  fires the ``documentation`` callback.
"""

from magflow.emag_sim.app import Simulator, create_app
from magflow.emag_sim.config import FaultConfig, SimAccount, SimConfig
from magflow.emag_sim.server import SimulatorServer
from magflow.emag_sim.state import SimState

__all__ = [
    "FaultConfig",
    "SimAccount",
    "SimConfig",
    "SimState",
    "Simulator",
    "SimulatorServer",
    "create_app",
]
