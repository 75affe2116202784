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
import os
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
        ("tests/bulk",),
        # 1,000 items at eMAG's pace (12 s): the same checks as test_bulk.py's, at scale.
        deselect=("tests/bulk/test_bulk_thousand.py",),
    ),
    Module(
        "auth",
        ("src/magflow/auth/service.py", "src/magflow/auth/throttle.py"),
        ("tests/auth",),
        deselect=("tests/auth/test_passwords_and_refresh.py::test_cli_reset_password_and_unlock",),
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


def run_module(
    module: Module, children: int, survivors: bool, incremental: bool, retest: bool = False
) -> float | None:
    work = prepare(module, incremental or retest)
    env = {k: v for k, v in os.environ.items() if k != "MAGFLOW_TEST_DATABASE_URL"}
    mutmut = [sys.executable, "-m", "mutmut"]
    names: list[str] = []
    if retest:
        if not (work / "mutants").exists():
            print(f"== {module.name}: no earlier run to re-test, running afresh", flush=True)
        else:
            # ... and those an interrupted run did not reach.
            names = not_killed(work, env, ("survived", "no tests", "suspicious", "not checked"))
            print(f"== {module.name}: re-testing the {len(names)} not killed", flush=True)
    print(f"== {module.name}: mutmut over {', '.join(module.sources)}", flush=True)
    if retest and (work / "mutants").exists() and not names:
        run = subprocess.CompletedProcess([], 0)  # everything was killed already
    else:
        run = subprocess.run(  # noqa: S603
            [*mutmut, "run", "--max-children", str(children), *names], cwd=work, env=env
        )
    if run.returncode != 0:
        # e.g. the module's tests failed before any mutation ("failed to collect stats"):
        # no score rather than a wrong one.
        print(f"== {module.name}: mutmut failed (exit {run.returncode}), no score", flush=True)
        return None
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
    return share


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
    args = parser.parse_args()
    try:
        version("mutmut")
    except PackageNotFoundError:
        print("mutmut is not installed: run `make mutate` (it installs the pinned version)")
        return 2
    chosen = [m for m in MODULES if not args.module or m.name in args.module]
    scores: dict[str, float | None] = {}
    failed = []
    for module in chosen:
        if not present(module):
            print(f"== {module.name}: not in the tree ({', '.join(module.sources)})", flush=True)
            scores[module.name] = None
            continue
        share = run_module(
            module, args.children, args.survivors, args.incremental, args.retest_survivors
        )
        scores[module.name] = None if share is None else round(share, 4)
        if share is None:
            failed.append(module.name)
    measured = [s for s in scores.values() if s is not None]
    goal_met = not failed and bool(measured) and all(s >= GOAL for s in measured)
    print(json.dumps({"mutation": scores, "goal_met": goal_met}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
