"""The import contracts of pyproject.toml (``[tool.importlinter]``) hold, one test each, and
the checker really sees imports written inside functions (they used to hide the cycles)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contract_ids() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    section = text[text.index("[tool.importlinter]") :]
    return re.findall(r'^id = "([^"]+)"', section, flags=re.MULTILINE)


def _lint(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--cache-dir", str(cache), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One graph cache for every contract of the run (building the graph is the slow part)."""
    return tmp_path_factory.mktemp("import-linter-cache")


def test_every_contract_is_checked() -> None:
    assert {"layers", "domain-without-settings", "acyclic-domain"} <= set(_contract_ids())


@pytest.mark.parametrize("contract", _contract_ids())
def test_contract_holds(contract: str, cache_dir: Path) -> None:
    result = _lint("--contract", contract, cwd=ROOT, cache=cache_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_import_inside_a_function_breaks_the_layers(tmp_path: Path) -> None:
    """A lower layer importing a higher one only inside a function is still reported."""
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("VALUE = 1\n")
    (package / "low.py").write_text(
        "def value() -> int:\n    from shop.high import VALUE\n\n    return VALUE\n"
    )
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = shop\n\n"
        "[importlinter:contract:layers]\nname = layers\ntype = layers\n"
        "layers =\n    shop.high\n    shop.low\n"
    )
    result = _lint(cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "shop.low -> shop.high" in result.stdout
