"""Save screenshots of every dashboard page (laptop and phone sizes) into docs/screenshots/.

Runs the browser tests ``tests/web/test_dashboard.py::test_screenshots`` (every page) and
``tests/web/test_pages.py::test_orders_table_fits_a_375px_phone`` (``orders-375.png``), which
start the app and the eMAG simulator, sync the simulated accounts and visit the pages in Debian's
Chromium::

    .venv/bin/python scripts/screenshots.py [folder]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    env = {**os.environ, "MAGFLOW_SCREENSHOTS": str(folder.resolve())}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/web/test_dashboard.py::test_screenshots[sqlite]",
        "tests/web/test_pages.py::test_orders_table_fits_a_375px_phone[sqlite]",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603
    if result.returncode == 0:
        for path in sorted(folder.glob("*.png")):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
