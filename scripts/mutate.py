"""Mutation score of the core modules, one module at a time against its own tests (``make mutate``).

Each module of ``MODULES`` runs mutmut in a work directory of its own, ``var/mutate/<module>/``,
holding a copy of ``src/`` and ``tests/`` and a ``pyproject.toml`` whose ``[tool.mutmut]`` section
names that module's source files (``only_mutate``) and test files. Each run starts afresh;
``--incremental`` reuses mutmut's results in the work directory's ``mutants/`` and re-tests only
the mutants of changed code (quicker, but a survivor does not meet a test added since).
``--retest-survivors`` keeps the earlier results too and re-tests the mutants they did not kill
(survived, no tests) against the current tests: after adding tests, and with the source
unchanged, that gives the score of a fresh run in a fraction of its time (adding tests cannot
let a killed mutant survive).

Tests run on SQLite with the in-process backends (the PostgreSQL/Redis variables are removed):
what a mutant breaks, it breaks there too, and a module stays within minutes on 2 CPUs.

The score of a module is the killed share of the mutants that were tested::

    killed share = (killed + timeout) / (total - skipped)

(a mutant that makes a test hang is caught: the test did not pass). Mutants no test reaches
(``no tests``) and survivors count against the score. The equivalent survivors, which no test can
kill because they do not change behaviour, are listed with why in ``docs/testing.md``.

The last line printed is one JSON object::

    {"mutation": {"<module>": <killed share>, ...}, "goal_met": <bool>}

with ``null`` for a listed module whose source is not in the tree (nothing to measure) or whose
run failed (its tests failed before any mutation: no score rather than a wrong one), and
``goal_met`` true when no run failed and every measured module reaches ``GOAL``.
``--module NAME`` (repeatable) runs only those modules; ``--survivors`` prints the survivors'
diffs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "mutate"
GOAL = 0.85
#: A line where a logging call starts (``log.info(...)`` and the like): not mutated.
LOG_STATEMENT = r"^\s*log\.(debug|info|warning|error|exception|critical)\("


@dataclass(frozen=True)
class Module:
    name: str
    sources: tuple[str, ...]  # files (or globs ending in ``*``) under src/ to mutate
    tests: tuple[str, ...]  # test files or directories: this module's own tests
    # Tests of those left out (``--deselect``): ones that exercise the module only in a
    # subprocess (which imports the unmutated package, so they cannot kill a mutant), or at a
    # scale the others cover in small; each costs every surviving mutant its run time.
    deselect: tuple[str, ...] = ()


MODULES = (
    Module(
        "sync",
        ("src/magflow/sync/engine.py",),
        (
            "tests/sync/test_engine.py",
            "tests/sync/test_resilience.py",
            "tests/sync/test_mutants.py",
        ),
        deselect=(
            # 2,400 orders read twice (17 s): its point is writes in flight at once, which SQLite
            # never has (one writer); the engine's batching and bookkeeping are in the others.
            "tests/sync/test_engine.py::"
            "test_batched_concurrent_writes_of_overlapping_pages_count_each_order_once",
            # The run killed in a subprocess (14 s): a resume from a checkpoint is driven
            # in-process by test_mutants.py's resume test.
            "tests/sync/test_resilience.py::"
            "test_a_killed_sync_resumes_from_its_checkpoint_without_loss_or_doubles",
            # Random faults (17 s) that the eMAG client's retries absorb (not mutated here); the
            # engine's rounds, page errors and partial runs are test_mutants.py's.
            "tests/sync/test_resilience.py::"
            "test_injected_faults_end_in_the_same_state_as_a_clean_run",
        ),
    ),
    Module("customers", ("src/magflow/customers/analytics.py",), ("tests/customers",)),
    Module(
        "ratelimit",
        ("src/magflow/emag/ratelimit.py",),
        ("tests/emag/test_ratelimit.py", "tests/emag/test_ratelimit_mutants.py"),
    ),
    Module(
        "bulk",
        ("src/magflow/bulk/validation.py", "src/magflow/bulk/service.py"),
        # The validation rules and the service's functions called directly, in process (a few
        # seconds in all). The other tests of tests/bulk drive the routes and the runner against
        # the simulator over HTTP (about 27 s for a mutant that survives them, 12 s more with the
        # 1,000-item test, and one starts a second API process, which imports the unmutated
        # package): they reach these two files only through the calls test_service.py makes.
        (
            "tests/bulk/test_validation.py",
            "tests/bulk/test_service.py",
        ),
    ),
    Module(
        "auth",
        ("src/magflow/auth/service.py", "src/magflow/auth/throttle.py"),
        ("tests/auth",),
        # The CLI test runs in a subprocess (the unmutated package); the login flood is a load
        # test (200 logins at once) whose other requests get 503 from the admission control when
        # mutmut's coverage tracing slows the app on a busy machine: its checks of the login
        # path are the other tests' too.
        deselect=(
            "tests/auth/test_passwords_and_refresh.py::test_cli_reset_password_and_unlock",
            "tests/auth/test_login_security.py::test_a_flood_of_logins_is_shed_with_429_and_others_are_served",
        ),
    ),
    Module(
        "orders",
        ("src/magflow/orders/actions.py",),
        ("tests/orders",),
        # The daily listing under uvicorn: it calls nothing of actions.py.
        deselect=("tests/orders/test_daily.py",),
    ),
    # The modules of this round that hold money or state, measured once they are in the tree
    # (until then ``null``): the repricing rules and their floor/margin formulas, the invoice
    # document (amounts, VAT), the CUI check digit and the invoicing service (series, numbering,
    # states), and the order intake of eMAG's callbacks with its auto-acknowledgement.
    Module(
        "repricing",
        ("src/magflow/pricing/rules.py", "src/magflow/pricing/formulas.py"),
        ("tests/pricing",),
    ),
    Module(
        "invoicing",
        (
            "src/magflow/invoicing/document.py",
            "src/magflow/invoicing/cui.py",
            "src/magflow/invoicing/service.py",
        ),
        ("tests/invoicing",),
        # The worker killed between "issued" and "attached" issues in a subprocess (the unmutated
        # package); its in-process rest (a held lease left alone, a stale one taken over by the
        # tick) is asserted in small by test_service_rules.py.
        # The triggers' end-to-end test looks for a shipped order without an invoice while the
        # API's own invoicing timer runs: slowed by mutmut's coverage tracing it finds none (the
        # timer was first); test_service_rules.py asserts the triggers' choices directly.
        deselect=(
            "tests/invoicing/test_kill.py::"
            "test_a_worker_killed_between_issued_and_attached_leaves_one_invoice_attached_once",
            "tests/invoicing/test_integration.py::"
            "test_triggers_reach_fbe_orders_and_awbs_however_issued_and_agree_with_the_todo",
        ),
    ),
    Module(
        "callbacks",
        (
            "src/magflow/intake/service.py",
            "src/magflow/intake/work.py",
            "src/magflow/intake/throttle.py",
        ),
        (
            "tests/intake/test_callbacks.py",
            "tests/intake/test_poll.py",
            "tests/intake/test_dashboard.py",
            "tests/intake/test_logging.py",
            "tests/intake/test_callback_kinds.py",
            "tests/intake/test_refusals_and_types.py",
            "tests/intake/test_mutants.py",
        ),
        # The documentation callback end to end: the offer's re-read runs after the answer, so a
        # mutant that breaks it makes the test wait its 30 s for an offer that never comes (a
        # timeout each); test_mutants.py calls ``refresh_offer`` itself and asserts the same.
        deselect=(
            "tests/intake/test_callback_kinds.py"
            "::test_documentation_callback_stores_the_offers_new_validation_status",
        ),
    ),
)


def present(module: Module) -> bool:
    for pattern in module.sources:
        if pattern.endswith("*"):
            if any(ROOT.glob(pattern[:-1] + "*.py")):
                return True
        elif (ROOT / pattern).is_file():
            return True
    return False


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def mutmut_config(module: Module) -> str:
    tests = [t for t in module.tests if (ROOT / t).exists()]
    return "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["src"]',
            f"only_mutate = {_toml_list(list(module.sources))}",
            f"pytest_add_cli_args_test_selection = {_toml_list(tests)}",
            "pytest_add_cli_args = "
            + _toml_list(
                ["-p", "no:cacheprovider", "-q", "-x"]
                + [arg for test in module.deselect for arg in ("--deselect", test)]
            ),
            # Log statements are not mutated (as PIT leaves logging calls alone by default): their
            # text is no behaviour the tests assert, and what must never reach a log (secrets)
            # is asserted on the log output itself. A statement starting on a matching line is
            # left whole.
            "do_not_mutate_patterns = " + _toml_list([LOG_STATEMENT]),
            # A hung mutant (e.g. a limiter that never grants) is a timeout, i.e. caught.
            "timeout_multiplier = 3.0",
            "timeout_constant = 10.0",
            "",
        ]
    )


def prepare(module: Module, incremental: bool) -> Path:
    """The module's work directory with a fresh copy of src/ and tests/ and its config; without
    ``incremental``, mutmut's results of an earlier run are dropped (mutmut re-tests only the
    mutants of changed functions: a survivor would not meet a test added since)."""
    work = WORK / module.name
    if not incremental and (work / "mutants").exists():
        shutil.rmtree(work / "mutants")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests"):
        target = work / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    project = (ROOT / "pyproject.toml").read_text()
    # Our own [tool.mutmut] (if the project has one) is replaced by the module's.
    project = re.sub(r"\n\[tool\.mutmut\].*?(?=\n\[|\Z)", "\n", project, flags=re.S)
    (work / "pyproject.toml").write_text(project + mutmut_config(module))
    return work


def not_killed(
    work: Path, env: dict[str, str], statuses: tuple[str, ...] = ("survived", "no tests")
) -> list[str]:
    """The mutants of the last run in ``work`` whose status is one of ``statuses`` (by default
    those that survived or that no test reached)."""
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    names = []
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status in statuses:
            names.append(name)
    return names


#: mutmut's exit codes of a caught mutant: killed (1, 3) or timed out (24, -24, 36, 152, 255).
CAUGHT_EXIT_CODES = frozenset({1, 3, 24, -24, 36, 152, 255})


def exit_codes(work: Path) -> dict[str, int | None]:
    """Every mutant of the work directory's last generation and its exit code (``None``: not
    tested), from mutmut's per-file ``.meta`` records."""
    codes: dict[str, int | None] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def wilson_low(caught: int, tested: int, z: float = 1.96) -> float:
    """The lower end of the 95 % Wilson interval of a killed share measured on a sample: what a
    sampled score can claim of the whole module."""
    if tested == 0:
        return 0.0
    share = caught / tested
    centre = share + z * z / (2 * tested)
    spread = z * math.sqrt(share * (1 - share) / tested + z * z / (4 * tested * tested))
    return (centre - spread) / (1 + z * z / tested)


def sample_of(work: Path, env: dict[str, str], size: int) -> list[str]:
    """A fixed random sample (seed 19) of ``size`` of the module's mutants. mutmut generates the
    mutants and measures which tests reach which function first; a filter that matches no
    mutant then stops it before any mutant is tested (its "nothing matches" exit is expected)."""
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", "1", "no-such-mutant"],
        cwd=work,
        env=env,
        capture_output=True,
    )
    names = sorted(exit_codes(work))
    if not names:
        raise RuntimeError(f"mutmut generated no mutants in {work}")
    return sorted(random.Random(19).sample(names, min(size, len(names))))


def sampled_share(work: Path, names: list[str], module: str) -> tuple[float, float] | None:
    """The killed share of the sampled mutants and the lower end of its 95 % interval (what
    the goal is checked against); ``None`` when a sampled mutant was not tested (an
    interrupted run)."""
    from mutmut.stats import status_by_exit_code  # installed by ``make mutate``

    codes = exit_codes(work)
    statuses = [status_by_exit_code[codes.get(name)] for name in names]
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    tested = len(statuses) - counts.get("skipped", 0)
    caught = counts.get("killed", 0) + counts.get("timeout", 0)
    if counts.get("not checked") or tested == 0:
        print(f"== {module}: sample not fully tested ({counts}), no score", flush=True)
        return None
    share = caught / tested
    print(
        f"== {module}: sample of {len(names)} of {len(codes)} mutants: {caught}/{tested} killed "
        f"({share:.1%}; 95 % interval from {wilson_low(caught, tested):.1%}); {counts}",
        flush=True,
    )
    return share, wilson_low(caught, tested)


def run_module(
    module: Module,
    children: int,
    survivors: bool,
    incremental: bool,
    retest: bool = False,
    sample: int = 0,
) -> tuple[float, float] | None:
    """The module's killed share and what it claims for the goal: the share itself for a full
    run, the lower end of its 95 % interval for a sample."""
    work = prepare(module, incremental or retest)
    env = {k: v for k, v in os.environ.items() if k != "MAGFLOW_TEST_DATABASE_URL"}
    mutmut = [sys.executable, "-m", "mutmut"]
    names: list[str] = []
    sampled: list[str] = []
    if sample and not retest:
        sampled = names = sample_of(work, env, sample)
        if incremental:
            # Those an earlier run of the work directory killed stay killed (a test added since
            # cannot let them survive); the rest of the sample is tested.
            codes = exit_codes(work)
            names = [name for name in sampled if codes.get(name) not in CAUGHT_EXIT_CODES]
        print(
            f"== {module.name}: a sample of {len(sampled)} mutants, {len(names)} to test",
            flush=True,
        )
    elif sample:
        sampled = sample_of(work, env, sample)  # the same sample: the seed is fixed
    if retest:
        if not (work / "mutants").exists():
            print(f"== {module.name}: no earlier run to re-test, running afresh", flush=True)
        else:
            # ... and those an interrupted run did not reach.
            names = not_killed(work, env, ("survived", "no tests", "suspicious", "not checked"))
            if sampled:
                names = [name for name in names if name in set(sampled)]
            print(f"== {module.name}: re-testing the {len(names)} not killed", flush=True)
    print(f"== {module.name}: mutmut over {', '.join(module.sources)}", flush=True)
    if retest and (work / "mutants").exists() and not names:
        run: subprocess.CompletedProcess[bytes] = subprocess.CompletedProcess([], 0)  # all killed
    else:
        run = subprocess.run(  # noqa: S603
            [*mutmut, "run", "--max-children", str(children), *names], cwd=work, env=env
        )
    if run.returncode != 0:
        # e.g. the module's tests failed before any mutation ("failed to collect stats"):
        # no score rather than a wrong one.
        print(f"== {module.name}: mutmut failed (exit {run.returncode}), no score", flush=True)
        return None
    if sampled:
        share_of_sample = sampled_share(work, sampled, module.name)
        if survivors:
            for name in sorted(set(not_killed(work, env)) & set(sampled)):
                subprocess.run([*mutmut, "show", name], cwd=work, env=env)  # noqa: S603
        return share_of_sample
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, env=env, check=True)  # noqa: S603
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    tested = int(stats["total"]) - int(stats["skipped"])
    caught = int(stats["killed"]) + int(stats["timeout"])
    if tested == 0:
        print(f"== {module.name}: no mutant was tested, no score", flush=True)
        return None
    share = caught / tested
    print(
        f"== {module.name}: {caught}/{tested} killed ({share:.1%}); "
        f"survived {stats['survived']}, no tests {stats['no_tests']}, "
        f"suspicious {stats['suspicious']}, skipped {stats['skipped']}",
        flush=True,
    )
    if survivors:
        for name in not_killed(work, env):
            subprocess.run([*mutmut, "show", name], cwd=work, env=env)  # noqa: S603
    return share, share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=[m.name for m in MODULES])
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--survivors", action="store_true", help="print surviving mutants")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="reuse mutmut's earlier results (only mutants of changed code are re-tested)",
    )
    parser.add_argument(
        "--retest-survivors",
        action="store_true",
        help="re-test only the mutants the last run did not kill, against the current tests "
        "(valid when only tests were added since: a killed mutant stays killed)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="test a fixed random sample of N mutants per module instead of all (the score is "
        "the sample's killed share, printed with its 95 %% interval)",
    )
    args = parser.parse_args()
    try:
        version("mutmut")
    except PackageNotFoundError:
        print("mutmut is not installed: run `make mutate` (it installs the pinned version)")
        return 2
    chosen = [m for m in MODULES if not args.module or m.name in args.module]
    scores: dict[str, float | None] = {}
    claims: list[float] = []
    failed = []
    for module in chosen:
        if not present(module):
            print(f"== {module.name}: not in the tree ({', '.join(module.sources)})", flush=True)
            scores[module.name] = None
            continue
        measured = run_module(
            module,
            args.children,
            args.survivors,
            args.incremental,
            args.retest_survivors,
            args.sample,
        )
        if measured is None:
            scores[module.name] = None
            failed.append(module.name)
            continue
        share, claimed = measured
        scores[module.name] = round(share, 4)
        claims.append(claimed)
    # A sampled module meets the goal when its whole 95 % interval does.
    goal_met = not failed and bool(claims) and all(c >= GOAL for c in claims)
    print(json.dumps({"mutation": scores, "goal_met": goal_met}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
