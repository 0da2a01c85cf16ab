"""The type and lint gates, as tests, so ``make test`` runs them.

``CHECKED`` is the whole of the code: ``vetrina``, ``channels``, ``integrations`` and
``actions`` pass ``mypy --strict`` and the wider ruff rule set (configured in
pyproject.toml). ``CHECKED_TESTS``: the tests, benchmarks and scripts pass the same ruff
rules, with the per-folder exemptions written in pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

CHECKED = ["vetrina", "channels", "integrations", "actions"]
CHECKED_TESTS = ["tests", "bench", "scripts"]


def _run(*command: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={"PATH": str(BIN), "MYPY_CACHE_DIR": str(cache / "mypy"), "HOME": str(cache)},
    )


def test_mypy_strict(tmp_path: Path) -> None:
    result = _run(str(BIN / "mypy"), *CHECKED, cache=tmp_path)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


@pytest.mark.parametrize("paths", [CHECKED, CHECKED_TESTS], ids=["code", "tests-bench-scripts"])
def test_ruff(paths: list[str], tmp_path: Path) -> None:
    result = _run(
        str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", *paths,
        cache=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
