"""Run the simulator under uvicorn on loopback, for tests and benchmarks.

Thread mode (default) shares the process, so ``sim.state`` can be inspected::

    with SimulatorServer(SimConfig(seed=1, offers=200, orders=500)) as sim:
        sim.base_url   # "http://127.0.0.1:PORT/api-3"
        sim.root_url   # "http://127.0.0.1:PORT" (control API at root_url + "/_sim/...")
        sim.state      # the SimState

The context manager is synchronous and can be used inside async tests (the server has its own
event loop in its own thread). ``SimulatorServer(cfg, subprocess=True)`` runs it in a child
Python process (``python -m magflow.emag_sim``) so it does not share the GIL with the
client; ``state`` is then unavailable and the control API is the way in.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess as sp
import sys
import threading
import time
import urllib.request
from types import TracebackType
from typing import Self

import uvicorn

from magflow.emag_sim.app import Simulator
from magflow.emag_sim.config import SimAccount, SimConfig
from magflow.emag_sim.state import SimState

READY_PREFIX = "MAGFLOW_SIM_PORT "


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: object, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


class SimulatorServer:
    """A running simulator (see the module docstring)."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        subprocess: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        startup_timeout: float = 60.0,
        own_session: bool = False,
    ) -> None:
        self.config = config or SimConfig()
        self.subprocess = subprocess
        #: Subprocess mode: start it in a session of its own (as eMAG's servers are not the
        #: caller's), which a benchmark gives a CPU priority of its own (bench/load.py,
        #: ``session_nice``). Off by default: a terminal closed on the caller then closes the
        #: simulator too.
        self.own_session = own_session
        self.host = host
        self.port = port
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.simulator: Simulator | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._proc: sp.Popen[str] | None = None
        self.startup_seconds: float | None = None

    # --- addresses -------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api-3"

    @property
    def state(self) -> SimState:
        if self.simulator is None:
            raise RuntimeError("state is only available in thread mode (use the control API)")
        return self.simulator.state

    @property
    def pid(self) -> int:
        """The process serving the simulator (this one in thread mode)."""
        return self._proc.pid if self._proc is not None else os.getpid()

    @property
    def accounts(self) -> list[SimAccount]:
        """The accounts with their credentials (generated ones included)."""
        return self.config.effective_accounts()

    def account(self, name: str) -> SimAccount:
        for acc in self.accounts:
            if acc.name == name or acc.username == name:
                return acc
        raise KeyError(name)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        started = time.perf_counter()
        if self.subprocess:
            self._start_subprocess()
        else:
            self._start_thread()
        self.startup_seconds = time.perf_counter() - started
        return self

    def _start_thread(self) -> None:
        self.simulator = Simulator(self.config)
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.simulator.app, self.log_level))
        server = self._server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="emag-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator thread died during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("the simulator did not start in time")
            time.sleep(0.005)

    def _start_subprocess(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "magflow.emag_sim",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            self.log_level,
        ]
        env = {**os.environ, "MAGFLOW_SIM_CONFIG": self.config.to_json()}
        self._proc = sp.Popen(  # noqa: S603
            cmd, stdout=sp.PIPE, text=True, env=env, start_new_session=self.own_session
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith(READY_PREFIX):
            self._proc.kill()
            raise RuntimeError(f"the simulator process did not start: {line!r}")
        self.port = int(line[len(READY_PREFIX) :])
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.root_url}/_sim/health", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if self._proc.poll() is not None:
                raise RuntimeError("the simulator process exited during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("the simulator process did not answer in time")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except sp.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the subprocess mode: the config comes in ``MAGFLOW_SIM_CONFIG`` (JSON);
    prints ``MAGFLOW_SIM_PORT <port>`` once listening."""
    parser = argparse.ArgumentParser(description="eMAG marketplace simulator (subprocess mode)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    raw = os.environ.get("MAGFLOW_SIM_CONFIG")
    config = SimConfig.from_json(raw) if raw else SimConfig()
    simulator = Simulator(config)
    sock = _bind(args.host, args.port)
    print(f"{READY_PREFIX}{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(_uvicorn_config(simulator.app, args.log_level)).run(sockets=[sock])


if __name__ == "__main__":
    main()

__all__ = ["SimulatorServer", "main"]
